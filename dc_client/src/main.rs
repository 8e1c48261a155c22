//! dc_client is not implemented yet; see the open issue. It refuses to run rather
//! than pretend to work.
fn main() -> std::process::ExitCode {
    eprintln!("Error, dc_client is not yet implemented");
    std::process::ExitCode::from(2)
}
