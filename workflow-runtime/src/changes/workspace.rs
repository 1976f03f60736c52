//! The repository a model edits: every path it names is confined to it, and the tools run on it.
//!
//! Confinement is checked when a tool runs; nothing stops another process
//! from swapping a directory for a symbolic link between the check and the
//! write, so a workspace is meant for a repository no one else is changing.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

/// How much of a file `read` shows: enough for any source file, not a whole data dump in the context.
const READ_CAP: usize = 100 * 1024;
/// How many entries `list` shows: a large tree (a `target/` directory) must not flood the context.
const LIST_CAP: usize = 500;

/// A repository directory that the model's tools are confined to.
#[derive(Clone, Debug)]
pub struct Workspace {
    root: PathBuf,
    /// Lexically normalized relative prefixes; empty = anywhere.
    writable: Vec<PathBuf>,
}

impl Workspace {
    /// A workspace over `root`; writes are limited to the `writable` path prefixes (empty: the whole repository).
    ///
    /// A prefix matches whole path components: `src` allows `src/lib.rs`, not `src2/x`.
    pub fn new(root: &Path, writable: Vec<String>) -> io::Result<Workspace> {
        let root = root.canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a directory", root.display())));
        }
        let writable = writable
            .iter()
            .map(|prefix| normalize(prefix).map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, format!("`paths:` entry `{prefix}` {why}"))))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Workspace { root, writable })
    }

    /// The repository root, canonicalized.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The real path of `rel` inside the repository, or a refusal the model can read and act on.
    pub fn resolve(&self, rel: &str, write: bool) -> Result<PathBuf, String> {
        self.locate(rel, write).map(|(path, _)| path)
    }

    /// [`Workspace::resolve`], with the real path relative to the root (`/`-separated) for messages.
    ///
    /// The relative name is the canonical one: messages and `files_changed`
    /// name a file the same way however the model spelled its path.
    pub(super) fn locate(&self, rel: &str, write: bool) -> Result<(PathBuf, String), String> {
        let lexical = normalize(rel).map_err(|why| format!("refused: `{rel}` {why}"))?;
        let real = self.real_path(&lexical).map_err(|why| format!("refused: `{rel}` {why}"))?;
        let Ok(relative) = real.strip_prefix(&self.root).map(Path::to_path_buf) else {
            return Err(format!("refused: `{rel}` goes through a symbolic link that leads outside the repository; use paths inside it"));
        };
        // Checked on the real path, so that a symbolic link to `.git` is refused too.
        if in_git_dir(&relative) {
            return Err(format!("refused: `{rel}` is inside `.git`; the git directory cannot be read or changed with these tools"));
        }
        if write && !self.writable.is_empty() && !self.writable.iter().any(|prefix| relative.starts_with(prefix)) {
            let allowed = self.writable.iter().map(|p| format!("`{}`", display(p))).collect::<Vec<_>>().join(", ");
            return Err(format!("refused: `{rel}` is outside the paths this step may write ({allowed}); change files under those paths only"));
        }
        Ok((real, display(&relative)))
    }

    /// The path with every existing part resolved (symbolic links followed), and the parts that do not exist yet appended.
    fn real_path(&self, lexical: &Path) -> Result<PathBuf, String> {
        let mut existing = self.root.join(lexical);
        let mut missing = vec![];
        // `symlink_metadata`, not `exists`: a dangling link exists, and writing through it would create its target.
        while fs::symlink_metadata(&existing).is_err() {
            match existing.file_name() {
                Some(name) => missing.push(name.to_owned()),
                None => break,
            }
            existing.pop();
        }
        let mut real = existing.canonicalize().map_err(|_| "is or goes through a symbolic link that cannot be followed (a dangling link?)".to_string())?;
        real.extend(missing.iter().rev());
        Ok(real)
    }

    /// Tool `read`: the file's text as the model sees it, cut at ~100 KB with a note.
    pub fn read(&self, path: &str) -> Result<String, String> {
        let (file, rel) = self.locate(path, false)?;
        if file.is_dir() {
            return Err(format!("`{rel}` is a directory; use `list` to see what it holds"));
        }
        let bytes = fs::read(&file).map_err(|e| io_message("cannot read", &rel, &e))?;
        let Ok(text) = String::from_utf8(bytes) else {
            return Err(format!("`{rel}` is not UTF-8 text; these tools read and edit text files only"));
        };
        if text.len() <= READ_CAP {
            return Ok(format!("read {rel}:\n{text}"));
        }
        let mut cut = READ_CAP;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        Ok(format!(
            "read {rel}:\n{}\n[truncated: showing the first {cut} of {} bytes; change this file with `patch`, since `write` would replace the part not shown]",
            &text[..cut],
            text.len()
        ))
    }

    /// Tool `list`: the entries under a directory, recursively, relative to the root, directories ending in `/`.
    ///
    /// Breadth first, so that when the cap is reached the entries left out are
    /// the deepest; `.git` is skipped and symbolic links are not followed.
    pub fn list(&self, path: &str) -> Result<String, String> {
        let (dir, rel) = self.locate(path, false)?;
        let meta = fs::metadata(&dir).map_err(|e| io_message("cannot list", &rel, &e))?;
        if !meta.is_dir() {
            return Err(format!("`{rel}` is a file, not a directory; use `read` to see it"));
        }
        let mut entries = vec![];
        let mut truncated = false;
        let mut queue = VecDeque::from([(dir, if rel == "." { String::new() } else { format!("{rel}/") })]);
        'walk: while let Some((dir, prefix)) = queue.pop_front() {
            let Ok(read_dir) = fs::read_dir(&dir) else { continue };
            let mut children: Vec<fs::DirEntry> = read_dir.filter_map(Result::ok).collect();
            children.sort_by_key(fs::DirEntry::file_name);
            for child in children {
                let name = child.file_name().to_string_lossy().into_owned();
                if name.eq_ignore_ascii_case(".git") {
                    continue;
                }
                if entries.len() == LIST_CAP {
                    truncated = true;
                    break 'walk;
                }
                let entry = format!("{prefix}{name}");
                if child.file_type().is_ok_and(|t| t.is_dir()) {
                    queue.push_back((child.path(), format!("{entry}/")));
                    entries.push(format!("{entry}/"));
                } else {
                    entries.push(entry);
                }
            }
        }
        entries.sort();
        let mut text = format!("list {rel}:\n");
        if entries.is_empty() {
            text.push_str("(empty directory)");
        }
        text.push_str(&entries.join("\n"));
        if truncated {
            text.push_str(&format!("\n[stopped at {LIST_CAP} entries; list a subdirectory to see the rest]"));
        }
        Ok(text)
    }

    /// Tool `write`: replaces (or creates) the file and its parent directories.
    pub fn write(&self, path: &str, content: &str) -> Result<String, String> {
        let (file, rel) = self.locate(path, true)?;
        if file.is_dir() {
            return Err(format!("`{rel}` is a directory; name a file inside it"));
        }
        if fs::read(&file).is_ok_and(|old| old == content.as_bytes()) {
            return Ok(format!("{rel} already has this content; nothing changed"));
        }
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent).map_err(|e| io_message("cannot create the directories of", &rel, &e))?;
        }
        fs::write(&file, content).map_err(|e| io_message("cannot write", &rel, &e))?;
        Ok(format!("wrote {rel} ({} bytes)", content.len()))
    }

    /// Tool `patch`: replaces `old`, which must occur exactly once in the file, by `new`.
    pub fn patch(&self, path: &str, old: &str, new: &str) -> Result<String, String> {
        let (file, rel) = self.locate(path, true)?;
        if old.is_empty() {
            return Err(format!("`old` is empty; copy the exact text to replace from `read {rel}`"));
        }
        let bytes = fs::read(&file).map_err(|e| io_message("cannot read", &rel, &e))?;
        let Ok(text) = String::from_utf8(bytes) else {
            return Err(format!("`{rel}` is not UTF-8 text; these tools read and edit text files only"));
        };
        match occurrences(&text, old) {
            1 => {}
            0 => {
                let line_endings = if text.contains("\r\n") && !old.contains("\r\n") { " (the file has Windows line endings, \\r\\n)" } else { "" };
                return Err(format!(
                    "`old` occurs 0 times in {rel}{line_endings}; it must occur exactly once: copy it exactly from `read {rel}`, whitespace included"
                ));
            }
            n => return Err(format!("`old` occurs {n} times in {rel}; it must occur exactly once: include more of the surrounding lines to make it unique")),
        }
        fs::write(&file, text.replacen(old, new, 1)).map_err(|e| io_message("cannot write", &rel, &e))?;
        Ok(format!("patched {rel}"))
    }
}

/// `rel` with `.` and `..` resolved without touching the disk, or why it cannot name a path inside the repository.
fn normalize(rel: &str) -> Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for component in Path::new(rel).components() {
        match component {
            Component::Prefix(_) | Component::RootDir => {
                return Err("is an absolute path; use a path relative to the repository root, such as `src/lib.rs`".to_string())
            }
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return Err("leads outside the repository (`..` above its root); use paths inside it".to_string());
                }
            }
            Component::Normal(name) => out.push(name),
        }
    }
    Ok(out)
}

/// Whether a relative path is in the git directory, which holds hooks and config that would run code or rewrite history.
fn in_git_dir(rel: &Path) -> bool {
    rel.components().any(|c| c.as_os_str().to_string_lossy().eq_ignore_ascii_case(".git"))
}

/// A relative path as the model writes it: `/`-separated, `.` for the root.
fn display(rel: &Path) -> String {
    let parts: Vec<_> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// An I/O error named by the relative path only: an absolute path would differ between checkouts and break replayed runs.
fn io_message(what: &str, rel: &str, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => format!("{what} `{rel}`: it does not exist; use `list` to see the files"),
        _ => format!("{what} `{rel}`: {e}"),
    }
}

/// Occurrences of `needle`, overlapping ones included: an `old` that matches at two overlapping places is still ambiguous.
fn occurrences(haystack: &str, needle: &str) -> usize {
    let step = needle.chars().next().map_or(1, char::len_utf8);
    let mut count = 0;
    let mut from = 0;
    while let Some(at) = haystack[from..].find(needle) {
        count += 1;
        from += at + step;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("repo/src")).unwrap();
        fs::create_dir_all(dir.path().join("repo/.git")).unwrap();
        fs::write(dir.path().join("repo/src/lib.rs"), "fn main() {}\n").unwrap();
        fs::write(dir.path().join("repo/.git/config"), "[core]\n").unwrap();
        fs::write(dir.path().join("outside.txt"), "secret\n").unwrap();
        let ws = Workspace::new(&dir.path().join("repo"), vec![]).unwrap();
        (dir, ws)
    }

    #[test]
    fn paths_inside_resolve_to_real_paths() {
        let (_dir, ws) = repo();
        assert_eq!(ws.resolve("src/lib.rs", false).unwrap(), ws.root().join("src/lib.rs"));
        assert_eq!(ws.locate("./src/../src/lib.rs", true).unwrap().1, "src/lib.rs");
        assert_eq!(ws.locate("", false).unwrap().1, ".");
        assert_eq!(ws.locate("new/dir/file.rs", true).unwrap(), (ws.root().join("new/dir/file.rs"), "new/dir/file.rs".to_string()));
    }

    #[test]
    fn absolute_paths_and_escapes_are_refused() {
        let (_dir, ws) = repo();
        let absolute = ws.resolve("/etc/passwd", false).unwrap_err();
        assert!(absolute.starts_with("refused: `/etc/passwd` is an absolute path"), "{absolute}");
        let up = ws.resolve("../outside.txt", false).unwrap_err();
        assert!(up.starts_with("refused: `../outside.txt` leads outside the repository"), "{up}");
        assert!(ws.resolve("src/../../outside.txt", true).is_err());
    }

    #[test]
    fn the_git_directory_is_refused_however_spelled() {
        let (_dir, ws) = repo();
        for path in [".git/config", "./.git", "src/../.git/HEAD", ".GIT/config"] {
            let err = ws.resolve(path, false).unwrap_err();
            assert!(err.contains("is inside `.git`"), "{path}: {err}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_out_of_the_root_are_refused() {
        let (dir, ws) = repo();
        std::os::unix::fs::symlink(dir.path(), ws.root().join("up")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside.txt"), ws.root().join("src/leak.txt")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("missing.txt"), ws.root().join("dangling.txt")).unwrap();
        std::os::unix::fs::symlink(ws.root().join(".git"), ws.root().join("g")).unwrap();
        std::os::unix::fs::symlink(ws.root().join("src"), ws.root().join("code")).unwrap();
        for path in ["up/outside.txt", "up/new.txt", "src/leak.txt"] {
            let err = ws.resolve(path, true).unwrap_err();
            assert!(err.contains("symbolic link that leads outside the repository"), "{path}: {err}");
        }
        assert!(ws.resolve("dangling.txt", true).unwrap_err().contains("cannot be followed"));
        assert!(ws.resolve("g/config", false).unwrap_err().contains("is inside `.git`"));
        // A link that stays inside is followed, and named by where it leads.
        assert_eq!(ws.locate("code/lib.rs", false).unwrap().1, "src/lib.rs");
    }

    #[test]
    fn writes_are_limited_to_the_writable_prefixes_by_whole_components() {
        let (dir, _) = repo();
        let ws = Workspace::new(&dir.path().join("repo"), vec!["src/".into(), "./docs".into()]).unwrap();
        assert!(ws.resolve("src/lib.rs", true).is_ok());
        assert!(ws.resolve("docs/new/guide.md", true).is_ok());
        let err = ws.resolve("src2/x.rs", true).unwrap_err();
        assert_eq!(err, "refused: `src2/x.rs` is outside the paths this step may write (`src`, `docs`); change files under those paths only");
        assert!(ws.resolve("README.md", true).is_err());
        assert!(ws.resolve("README.md", false).is_ok(), "reading is not limited");
    }

    #[test]
    fn writable_entries_must_be_inside_the_repository() {
        let (dir, _) = repo();
        for bad in ["/src", "../elsewhere"] {
            let err = Workspace::new(&dir.path().join("repo"), vec![bad.into()]).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}");
            assert!(err.to_string().contains(&format!("`paths:` entry `{bad}`")), "{err}");
        }
        assert!(Workspace::new(&dir.path().join("missing"), vec![]).is_err());
    }

    #[test]
    fn overlapping_occurrences_count() {
        assert_eq!(occurrences("aaa", "aa"), 2);
        assert_eq!(occurrences("abab", "ab"), 2);
        assert_eq!(occurrences("é-é", "é"), 2);
        assert_eq!(occurrences("abc", "x"), 0);
    }

    #[test]
    fn a_long_file_is_cut_with_a_note() {
        let (_dir, ws) = repo();
        fs::write(ws.root().join("big.txt"), "é".repeat(READ_CAP)).unwrap();
        let text = ws.read("big.txt").unwrap();
        assert!(text.len() < READ_CAP + 300, "{}", text.len());
        assert!(text
            .ends_with("[truncated: showing the first 102400 of 204800 bytes; change this file with `patch`, since `write` would replace the part not shown]"));
    }

    #[test]
    fn a_listing_stops_at_the_cap_keeping_the_shallow_entries() {
        let (_dir, ws) = repo();
        for i in 0..LIST_CAP {
            fs::write(ws.root().join(format!("src/f{i:03}.rs")), "").unwrap();
        }
        let text = ws.list(".").unwrap();
        let entries: Vec<&str> = text.lines().skip(1).filter(|l| !l.starts_with('[')).collect();
        assert_eq!(entries.len(), LIST_CAP);
        assert_eq!(entries[0], "src/");
        assert!(!text.contains(".git"), "{text}");
        assert!(text.ends_with("[stopped at 500 entries; list a subdirectory to see the rest]"), "{text}");
    }
}
