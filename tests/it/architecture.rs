//! The layout of `src/` is the architecture of docs/architecture.md: one
//! folder per piece, each using only the pieces below it, no import cycle
//! between files, no file over 800 lines.
//!
//! Read from the source text: every `crate::…` path in code, every
//! top-level `use super::…`, and a `mod.rs`'s uses of its own children are
//! edges from one file to the file that defines what they name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The pieces, lowest first; a piece may use the pieces of lower rank.
const PIECES: [(&str, u8); 9] = [
    ("engine", 0),
    ("registry", 1),
    ("measure", 2),
    ("integrations", 3),
    ("http", 3),
    ("saturation", 3),
    ("export", 4),
    ("agent", 5),
    ("objectives", 5),
];

const MAX_LINES: usize = 800;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/engine/histogram.rs` → `["engine", "histogram"]`; a `mod.rs` is its
/// folder's module; `lib.rs` is `[]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    match last.as_str() {
        "mod.rs" | "lib.rs" => {}
        other => parts.push(other.trim_end_matches(".rs").to_owned()),
    }
    parts
}

/// The file defining the longest module prefix of `path`.
fn file_of(src: &Path, path: &[String]) -> PathBuf {
    for n in (1..=path.len()).rev() {
        let dir: PathBuf = path[..n].iter().collect();
        let file = src.join(&dir).with_extension("rs");
        if file.is_file() {
            return file;
        }
        let module = src.join(&dir).join("mod.rs");
        if module.is_file() {
            return module;
        }
    }
    src.join("lib.rs")
}

/// The path segments after `start` in `text`: `engine::histogram::Histogram`.
fn segments(text: &str) -> Vec<String> {
    text.split("::")
        .map(|s| {
            s.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .take_while(|s| !s.is_empty())
        .collect()
}

/// Edges from `file` to the files whose items it names.
fn uses(src: &Path, file: &Path, text: &str) -> Vec<PathBuf> {
    let module = module_of(src, file);
    let is_dir_module = file.ends_with("mod.rs") || file.ends_with("lib.rs");
    let children: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let l = l
                .trim_start_matches("pub ")
                .trim_start_matches("pub(crate) ");
            l.strip_prefix("mod ")?.strip_suffix(';').map(str::to_owned)
        })
        .collect();
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        for (i, _) in line.match_indices("crate::") {
            let path = segments(&line[i + "crate::".len()..]);
            out.push(file_of(src, &path));
        }
        // Top-level `use` lines only: inside an inline module (tests),
        // `super` is this file.
        let Some(rest) = ["use ", "pub use ", "pub(crate) use ", "pub(super) use "]
            .iter()
            .find_map(|p| line.strip_prefix(p))
        else {
            continue;
        };
        if let Some(rest) = rest.strip_prefix("super::") {
            let mut path = module[..module.len().saturating_sub(1)].to_vec();
            path.extend(segments(rest));
            if !rest.starts_with('*') {
                out.push(file_of(src, &path));
            }
        } else if is_dir_module {
            let path = segments(rest);
            if path.first().is_some_and(|p| children.contains(p)) {
                let mut full = module.clone();
                full.extend(path);
                out.push(file_of(src, &full));
            }
        }
    }
    out.retain(|f| f != file);
    out.sort();
    out.dedup();
    out
}

fn piece_of(src: &Path, file: &Path) -> Option<&'static str> {
    let first = module_of(src, file).into_iter().next()?;
    PIECES.iter().find(|(p, _)| *p == first).map(|(p, _)| *p)
}

fn rank(piece: &str) -> u8 {
    PIECES.iter().find(|(p, _)| *p == piece).unwrap().1
}

fn graph() -> (PathBuf, BTreeMap<PathBuf, Vec<PathBuf>>) {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let graph = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            (f.clone(), uses(&src, f, &text))
        })
        .collect();
    (src, graph)
}

fn short(src: &Path, f: &Path) -> String {
    f.strip_prefix(src).unwrap().display().to_string()
}

#[test]
fn every_piece_uses_only_the_pieces_below_it() {
    let (src, graph) = graph();
    let mut wrong = Vec::new();
    for (from, targets) in &graph {
        let Some(piece) = piece_of(&src, from) else {
            assert!(from.ends_with("lib.rs"), "{from:?} is in no piece");
            continue;
        };
        for to in targets {
            let Some(other) = piece_of(&src, to) else {
                wrong.push(format!(
                    "{} uses the crate root (a re-export); name the piece's item",
                    short(&src, from)
                ));
                continue;
            };
            if other != piece && rank(other) >= rank(piece) {
                wrong.push(format!(
                    "{} ({piece}) uses {} ({other})",
                    short(&src, from),
                    short(&src, to)
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn no_import_cycle_between_files() {
    let (src, graph) = graph();
    // Depth-first search; a grey node met again closes a cycle.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        White,
        Grey,
        Black,
    }
    fn visit(
        node: &PathBuf,
        graph: &BTreeMap<PathBuf, Vec<PathBuf>>,
        marks: &mut BTreeMap<PathBuf, Mark>,
        stack: &mut Vec<PathBuf>,
    ) -> Option<Vec<PathBuf>> {
        marks.insert(node.clone(), Mark::Grey);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            match marks.get(next).copied().unwrap_or(Mark::White) {
                Mark::Grey => {
                    let at = stack.iter().position(|n| n == next).unwrap();
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Mark::White => {
                    if let Some(c) = visit(next, graph, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Black => {}
            }
        }
        stack.pop();
        marks.insert(node.clone(), Mark::Black);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if marks.get(node).copied().unwrap_or(Mark::White) == Mark::White {
            if let Some(cycle) = visit(node, &graph, &mut marks, &mut Vec::new()) {
                let names: Vec<String> = cycle.iter().map(|f| short(&src, f)).collect();
                panic!("import cycle: {}", names.join(" → "));
            }
        }
    }
}

#[test]
fn files_stay_under_800_lines_and_pieces_say_what_they_use() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("cli").join("src"), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > MAX_LINES).then(|| format!("{} has {n} lines", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these by concept:\n{}",
        long.join("\n")
    );
    for (piece, _) in PIECES {
        let module = root().join("src").join(piece).join("mod.rs");
        let text = std::fs::read_to_string(&module)
            .unwrap_or_else(|e| panic!("the piece {piece} has no mod.rs: {e}"));
        let doc: String = text
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            doc.contains("Uses") || doc.contains("uses"),
            "src/{piece}/mod.rs must say in its doc which pieces it uses"
        );
    }
}

#[test]
fn the_edge_reader_sees_what_it_must() {
    // The reader itself: a use of a higher piece, a super path, a child.
    let src = root().join("src");
    let file = src.join("engine").join("histogram.rs");
    let text = "use super::layout::Layout;\nfn f() { crate::measure::Monitor::new(); }\n    use super::*;\n// crate::agent::Agent\n";
    let found = uses(&src, &file, text);
    assert_eq!(
        found,
        vec![
            src.join("engine").join("layout.rs"),
            src.join("measure").join("mod.rs"),
        ]
    );
    let module = src.join("export").join("mod.rs");
    let found = uses(&src, &module, "mod render;\npub use render::render;\n");
    assert_eq!(found, vec![src.join("export").join("render.rs")]);
}
