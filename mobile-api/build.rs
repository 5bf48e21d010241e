//! Embeds the web console: every file under `console/` becomes one entry of the generated
//! `console_assets.rs` (its path, content type and `include_bytes!`), so adding a file — a new
//! page module under `console/pages/` included — needs no list kept by hand in `console.rs`.

use std::path::{Path, PathBuf};

/// Content types of the file kinds the console is made of; any other file fails the build
/// rather than being served with a guessed type.
const CONTENT_TYPES: &[(&str, &str)] = &[
    ("html", "text/html; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("json", "application/json"),
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
];

/// Folders deeper than this are a mistake (the console is a flat folder plus `pages/`).
const DEPTH_MAX: usize = 4;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
    // A folder here is scanned recursively by Cargo: any file added, changed or removed reruns.
    println!("cargo:rerun-if-changed=console");
    let mut files = Vec::new();
    walk(&root, &root, 0, &mut files);
    files.sort();
    let mut out = String::from("&[\n");
    for rel in &files {
        let ext = rel.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        let Some((_, content_type)) = CONTENT_TYPES.iter().find(|(e, _)| *e == ext) else {
            panic!(
                "console/{rel}: no content type for files ending in {ext:?}; add one to build.rs"
            );
        };
        out.push_str(&format!(
            "    Asset {{ name: {rel:?}, content_type: {content_type:?}, body: include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/console/\", {rel:?})) }},\n"
        ));
    }
    out.push_str("]\n");
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("console_assets.rs");
    std::fs::write(&dest, out).expect("writing console_assets.rs");
}

/// Every file under `dir` as a `/`-separated path relative to `root`; dot files (editor
/// leftovers) are skipped.
fn walk(root: &Path, dir: &Path, depth: usize, files: &mut Vec<String>) {
    assert!(depth <= DEPTH_MAX, "{} is nested too deep", dir.display());
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("a console folder entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type().expect("a console file type");
        if kind.is_dir() {
            walk(root, &path, depth + 1, files);
        } else if kind.is_file() {
            let rel = path.strip_prefix(root).expect("under the console folder");
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            files.push(parts.join("/"));
        }
    }
}
