//! Gives the shared library the soname of the original, so programs linked
//! against distcache 1.x (`NEEDED libdistcache.so.1`) load this one.

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libdistcache.so.1");
    println!("cargo:rerun-if-changed=build.rs");
}
