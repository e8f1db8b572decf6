//! The course (lessons/ and assets/) is embedded with `include_dir!`, which
//! does not notice new files; rebuilding when either tree changes keeps the
//! built-in copy true to the working tree.
fn main() {
    println!("cargo:rerun-if-changed=lessons");
    println!("cargo:rerun-if-changed=assets");
}
