//! Prints the diagnostics for the YAML files given (a developer aid).
fn main() {
    let paths: Vec<std::path::PathBuf> = std::env::args().skip(1).map(Into::into).collect();
    match workflow_core::set::compile_paths(&paths, &Default::default()) {
        Ok(c) => println!("ok: {} workflows", c.len()),
        Err(d) => eprint!("{}", d.render()),
    }
}
