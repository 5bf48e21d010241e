fn main() -> std::process::ExitCode {
    xt_agent::cli::main_entry()
}
