//! The `weft` binary. Everything lives in the library so tests can start the
//! real server in-process.

fn main() -> std::process::ExitCode {
    weft::cli::main()
}
