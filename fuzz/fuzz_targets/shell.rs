//! Fuzzes the shell: scripts built from fuzz bytes are parsed and run in a
//! throw-away container with a small memory budget; they must end.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sandbox::fuzz::shell_script(data);
});
