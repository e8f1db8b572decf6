#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    kubetutor::cli::main()
}
