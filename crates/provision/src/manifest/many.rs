//! Several manifests at once: files and folders (every `*.toml` directly in a folder, in name
//! order), each loaded and checked like one, then checked together: a `unique_name` or an
//! `app_id` in two manifests is an error naming both files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Class, Error, Result};
use crate::model::Desired;
use crate::output::Printer;

/// The manifest files that `paths` name: files as given, folders expanded to their `*.toml`.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let entries = std::fs::read_dir(p).map_err(|e| {
                Error::failure(format!("cannot read the folder `{}`", p.display())).with_source(e)
            })?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "toml"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(Error::failure(format!(
                    "the folder `{}` holds no `*.toml` manifest",
                    p.display()
                ))
                .with_help("name manifest files, or folders that hold `*.toml` files"));
            }
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    out.dedup();
    Ok(out)
}

/// Load every manifest `paths` name (warnings printed), and refuse an app named twice.
pub fn load_many(paths: &[PathBuf], printer: &Printer) -> Result<Vec<Desired>> {
    let files = expand(paths)?;
    let mut loaded = Vec::with_capacity(files.len());
    for f in &files {
        loaded.push(super::load_reporting(f, printer)?);
    }
    check_distinct(&loaded)?;
    Ok(loaded)
}

/// The same `unique_name` (or pinned `app_id`) in two manifests is an error naming both.
pub fn check_distinct(manifests: &[Desired]) -> Result<()> {
    let mut seen: BTreeMap<(String, &'static str), &Path> = BTreeMap::new();
    for d in manifests {
        for app in &d.apps {
            let keys = std::iter::once((app.unique_name.to_lowercase(), "unique_name"))
                .chain(app.app_id.iter().map(|id| (id.to_lowercase(), "app_id")));
            for (value, key) in keys {
                if let Some(first) = seen.get(&(value.clone(), key)) {
                    if *first == d.source.as_path() {
                        continue;
                    }
                    return Err(Error::new(
                        Class::Manifest,
                        format!(
                            "{key} `{value}` is in two manifests: `{}` and `{}`",
                            first.display(),
                            d.source.display()
                        ),
                    )
                    .with_help("an app is managed by one manifest; remove it from one of them"));
                }
                seen.insert((value, key), d.source.as_path());
            }
        }
    }
    Ok(())
}
