//! Link flags for the `site-agent` binary only (dependencies are unaffected).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    // Pack the position-independent binary's relative relocations (DT_RELR, glibc ≥ 2.36,
    // binutils ≥ 2.38): 1.3 MB of `.rela.dyn` becomes a few kB, so the loader reads —
    // and the idle process keeps resident — that much less, with PIE (ASLR) kept.
    if target.contains("linux-gnu") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
