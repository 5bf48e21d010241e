fn main() -> std::process::ExitCode {
    xt_hub::cli::main_entry()
}
