//! Arbitrary bytes into the sandbox's protobuf decoder and the three patch
//! kinds: they must return errors, never panic.
//!
//! Run from the crate root (the captured kubectl bodies seed the corpus):
//! `cargo +nightly fuzz run decode_and_patch --sanitizer none
//! fuzz/corpus/decode_and_patch crates/sandbox/tests/fixtures/protobuf -- -max_total_time=300`
//! On stable, `cargo test -p sandbox fuzz` runs the same target over
//! pseudo-random inputs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sandbox::fuzz::decode_and_patch(data);
});
