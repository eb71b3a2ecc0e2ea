//! `cargo xtask wasm --sizes`: where the package's bytes go.
//!
//! Reads a build of the package with the function names kept (made by
//! `crate::wasm::size_report`), sums the size of each function's code by the crate its
//! name starts with and prints the largest crates and functions. Names are those of the
//! functions left after inlining: code inlined into a caller counts for the caller (the
//! `FnOnce` shims are the driver's closures).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use wasmparser::{KnownCustom, Name, Parser, Payload, TypeRef};

/// Rows printed in each table.
const ROWS: usize = 20;

/// Prints the code size by crate and the largest functions of `named`, a wasm module with
/// a name section.
pub fn report(named: &Path) -> Result<()> {
    let data = std::fs::read(named).with_context(|| format!("reading {}", named.display()))?;
    let functions = functions(&data).with_context(|| format!("parsing {}", named.display()))?;
    let total: usize = functions.iter().map(|(_, size)| size).sum();
    println!(
        "    code: {total} B in {} functions (raw, not gzip)",
        functions.len()
    );
    let mut by_crate: HashMap<String, (usize, usize)> = HashMap::new();
    for (name, size) in &functions {
        let entry = by_crate.entry(crate_of(name)).or_default();
        entry.0 += size;
        entry.1 += 1;
    }
    let mut crates: Vec<_> = by_crate.into_iter().collect();
    crates.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then_with(|| a.0.cmp(&b.0)));
    println!("    by crate (bytes, share, functions):");
    for (name, (size, count)) in crates.iter().take(ROWS) {
        let share = 100.0 * *size as f64 / total.max(1) as f64;
        println!("    {size:>9} {share:>5.1}% {count:>5}  {name}");
    }
    let mut largest: Vec<_> = functions.iter().collect();
    largest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    println!("    largest functions:");
    for (name, size) in largest.into_iter().take(ROWS) {
        let shown: String = name.chars().take(110).collect();
        println!("    {size:>9}  {shown}");
    }
    Ok(())
}

/// Every defined function of the module: its demangled name (or `func[N]`) and the bytes
/// of its body.
fn functions(data: &[u8]) -> Result<Vec<(String, usize)>> {
    let mut imported = 0u32;
    let mut sizes = Vec::new();
    let mut names: HashMap<u32, String> = HashMap::new();
    for payload in Parser::new(0).parse_all(data) {
        match payload? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if matches!(import?.ty, TypeRef::Func(_)) {
                        imported += 1;
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let range = body.range();
                sizes.push((range.end - range.start) as usize);
            }
            Payload::CustomSection(section) => {
                if let KnownCustom::Name(reader) = section.as_known() {
                    for subsection in reader {
                        if let Name::Function(map) = subsection? {
                            for naming in map {
                                let naming = naming?;
                                names.insert(naming.index, naming.name.to_string());
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(sizes
        .into_iter()
        .enumerate()
        .map(|(i, size)| {
            let index = imported + i as u32;
            let name = match names.get(&index) {
                Some(raw) => tidy(&format!("{:#}", rustc_demangle::demangle(raw))),
                None => format!("func[{index}]"),
            };
            (name, size)
        })
        .collect())
}

/// `name` without the hashes a demangled name may still carry (wasm-bindgen writes names
/// demangled already): a `::h` and 16 hex digits at the end, `[` 16 hex digits `]` after
/// crate names.
fn tidy(name: &str) -> String {
    let is_hash = |s: &str| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let mut name = name;
    if let Some((head, hash)) = name.rsplit_once("::h") {
        if is_hash(hash) {
            name = head;
        }
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        if after.len() > 16 && after.as_bytes()[16] == b']' && is_hash(&after[..16]) {
            out.push_str(&rest[..open]);
            rest = &after[17..];
        } else {
            out.push_str(&rest[..=open]);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The crate a demangled function name belongs to: the one its path starts with, or for
/// `<T as Trait>::f` with a `T` of no crate (`f64`, `[T; 32]`), the trait's. Names outside
/// Rust, such as wasm-bindgen's shims, count as `(other)`.
fn crate_of(name: &str) -> String {
    leading_crate(name)
        .or_else(|| leading_crate(name.split_once(" as ")?.1))
        .unwrap_or_else(|| "(other)".to_string())
}

/// The first path segment of `name` when a path starts it.
fn leading_crate(name: &str) -> Option<String> {
    let trimmed = name.trim_start_matches(['<', '&', '*', '(']);
    let trimmed = trimmed
        .strip_prefix("mut ")
        .or_else(|| trimmed.strip_prefix("dyn "))
        .or_else(|| trimmed.strip_prefix("impl "))
        .unwrap_or(trimmed);
    let end = trimmed
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(trimmed.len());
    (end > 0 && trimmed[end..].starts_with("::")).then(|| trimmed[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::{crate_of, tidy};

    #[test]
    fn hashes_are_taken_out_of_names() {
        assert_eq!(
            tidy("<f64 as core[c5930c85a12de822]::fmt::Display>::fmt"),
            "<f64 as core::fmt::Display>::fmt"
        );
        assert_eq!(
            tidy("rumor_core::wire::decode::hf27636da35d90016"),
            "rumor_core::wire::decode"
        );
        assert_eq!(tidy("<[T; 32]>::f"), "<[T; 32]>::f");
        assert_eq!(tidy("a::hb"), "a::hb");
    }

    #[test]
    fn functions_count_for_the_crate_their_name_starts_with() {
        assert_eq!(crate_of("rumor_core::wire::decode"), "rumor_core");
        assert_eq!(
            crate_of("<rumor_core::identity::Ed25519 as rumor_core::identity::Verify>::verify"),
            "rumor_core"
        );
        assert_eq!(
            crate_of("<&mut serde_json::de::Deserializer<R>>::x"),
            "serde_json"
        );
        assert_eq!(crate_of("<f64 as core::fmt::Display>::fmt"), "core");
        assert_eq!(crate_of("__wbindgen_malloc"), "(other)");
    }
}
