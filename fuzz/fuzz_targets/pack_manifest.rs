//! The `pack_manifest` fuzz target: [`squall_fuzz::pack_manifest`] under libFuzzer. Run it with
//! `fuzz/run.sh pack_manifest SECONDS`.

fn main() {
    squall_fuzz::driver::run(squall_fuzz::pack_manifest)
}
