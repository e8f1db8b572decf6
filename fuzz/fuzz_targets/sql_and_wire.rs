//! Arbitrary bytes into the emulated PostgreSQL: wire-protocol decoding,
//! the SQL lexer and parsers, and an engine executing what parses. They
//! must return errors, never panic.
//!
//! `cargo +nightly fuzz run sql_and_wire --sanitizer none -- -max_total_time=60`
//! On stable, `cargo test -p pgemu fuzz` runs the same target
//! over pseudo-random inputs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pgemu::fuzz::sql_and_wire(data);
});
