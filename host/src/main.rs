//! The `squall` binary: parses the command line and hands over to `cli`.

// Allocation was a tenth of a webhook's CPU under glibc's allocator, whose
// arenas the engine's threads contend for (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    squall::cli::main()
}
