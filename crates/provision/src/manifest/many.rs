//! Several manifests at once: files and folders (every `*.toml` directly in a folder, in name
//! order), each loaded and checked like one, then checked together: a `unique_name` or an
//! `app_id` in two manifests is an error naming both files. [`Set`] is such a load as one run
//! of `plan`, `apply` or `destroy`: the apps of all of them (or of `--target`) as one
//! `Desired`, each app's manifest known, the tenant guards agreeing. Pure once loaded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::error::{Class, Error, Result};
use crate::model::Desired;
use crate::output::Printer;
use crate::plan::AppKey;

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
    // A file named twice (`a.toml` and its folder, `./a.toml`, a link) is read once: its apps
    // are not two apps.
    let mut unique: Vec<PathBuf> = Vec::with_capacity(out.len());
    for p in out {
        if !unique.iter().any(|u| *u == p || super::same_file(u, &p)) {
            unique.push(p);
        }
    }
    Ok(unique)
}

/// Load every manifest `paths` name (warnings printed), and refuse an app named twice.
pub fn load_many(paths: &[PathBuf], printer: &Printer) -> Result<Vec<Desired>> {
    let files = expand(paths)?;
    let mut loaded = Vec::with_capacity(files.len());
    for f in &files {
        loaded.push(super::load_reporting(f, printer)?);
    }
    // An `output.path` that is another manifest of the set would be overwritten by apply.
    let reads: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    for d in &loaded {
        if let Some(diag) = super::output_overwrites(&d.source, d, &reads) {
            let text = match super::read(&d.source)? {
                Ok(text) => text,
                Err((shown, _)) => shown,
            };
            let mut diags = super::Diagnostics::new(d.source.display().to_string());
            diags.push(diag);
            return Err(Error::manifest(
                diags.render_with(&text, printer.color) + &crate::ci::annotations_if_ci(&diags, &text),
                1,
            ));
        }
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

/// Several manifests as one run (`plan`, `apply`, `destroy` with several paths or `--target`):
/// the apps of the run as one [`Desired`], each attributed to the manifest it comes from.
#[derive(Debug, Clone)]
pub struct Set {
    /// Every manifest named, whole, in the order given (folders in name order).
    pub manifests: Vec<Desired>,
    /// The apps of this run (all, or those `--target` names), in manifest order; `tenant` is
    /// the first guard of the manifests in the run, `output` is `None` (each manifest has its
    /// own), `source` is the first manifest's.
    pub combined: Desired,
    /// Each app of `combined`, by its key, with its manifest's index in `manifests`.
    pub owner: BTreeMap<AppKey, usize>,
    /// `--target`, as the manifests spell the names; empty: every app.
    pub targets: Vec<String>,
}

impl Set {
    /// The run over `manifests` (checked distinct), limited to `targets` when any are given.
    /// An unknown target, and manifests of the run whose guards name two different tenant
    /// GUIDs, are errors.
    pub fn new(manifests: Vec<Desired>, targets: &[String]) -> Result<Set> {
        check_distinct(&manifests)?;
        let mut chosen = Vec::new();
        for t in targets {
            let found = manifests
                .iter()
                .flat_map(|d| &d.apps)
                .find(|a| a.unique_name.eq_ignore_ascii_case(t));
            match found {
                Some(app) if !chosen.contains(&app.unique_name) => chosen.push(app.unique_name.clone()),
                Some(_) => {}
                None => {
                    let names = manifests
                        .iter()
                        .flat_map(|d| &d.apps)
                        .map(|a| a.unique_name.as_str());
                    let mut e = Error::failure(format!("`--target {t}` names no app of the manifests"));
                    e = match super::rules::closest(t, names) {
                        Some(best) => e.with_help(format!("did you mean `{best}`?")),
                        None => {
                            e.with_help("--target takes the `unique_name` of an app of the manifests named")
                        }
                    };
                    return Err(e);
                }
            }
        }
        let mut apps = Vec::new();
        let mut owner = BTreeMap::new();
        for (k, d) in manifests.iter().enumerate() {
            for app in &d.apps {
                if chosen.is_empty() || chosen.contains(&app.unique_name) {
                    apps.push(app.clone());
                    owner.insert(app.key(), k);
                }
            }
        }
        let first = manifests
            .first()
            .ok_or_else(|| Error::failure("no manifest named"))?;
        let mut set = Set {
            combined: Desired {
                source: first.source.clone(),
                tenant: None,
                apps,
                output: None,
            },
            manifests,
            owner,
            targets: chosen,
        };
        set.combined.tenant = set.agreed_tenant()?.map(str::to_owned);
        Ok(set)
    }

    /// Whether the apps of the run come from more than one manifest file.
    pub fn several(&self) -> bool {
        self.in_run().len() > 1
    }

    /// Whether `--target` limits the run.
    pub fn partial(&self) -> bool {
        !self.targets.is_empty()
    }

    /// Indexes of the manifests with at least one app in the run.
    pub fn in_run(&self) -> Vec<usize> {
        let ks: BTreeSet<usize> = self.owner.values().copied().collect();
        ks.into_iter().collect()
    }

    /// The manifest an app of the run comes from (by `unique_name`, without case).
    pub fn manifest_of(&self, unique_name: &str) -> Option<&Desired> {
        self.owner
            .get(&AppKey::of(unique_name))
            .map(|k| &self.manifests[*k])
    }

    /// Manifest `k` with only the apps of the run.
    pub fn part(&self, k: usize) -> Desired {
        let mut d = self.manifests[k].clone();
        d.apps = self
            .combined
            .apps
            .iter()
            .filter(|a| self.owner.get(&a.key()) == Some(&k))
            .cloned()
            .collect();
        d
    }

    /// Whether every app of manifest `k` is in the run.
    pub fn whole(&self, k: usize) -> bool {
        self.owner.values().filter(|o| **o == k).count() == self.manifests[k].apps.len()
    }

    /// Every tenant guard of the manifests in the run, with its manifest: what the sign-in must
    /// satisfy, each one.
    pub fn guards(&self) -> Vec<(&Path, &str)> {
        self.in_run()
            .into_iter()
            .filter_map(|k| {
                let d = &self.manifests[k];
                d.tenant.as_deref().map(|t| (d.source.as_path(), t))
            })
            .collect()
    }

    /// The names the manifests in the run give their tenant, first one first, without repeats.
    pub fn tenant_names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (_, t) in self.guards() {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(t)) {
                out.push(t);
            }
        }
        out
    }

    /// The first guard, once two GUIDs that differ are refused. (A domain and a GUID, or two
    /// domains, may name one tenant: each guard is checked against the signed-in tenant.)
    fn agreed_tenant(&self) -> Result<Option<&str>> {
        let guards = self.guards();
        let guids: Vec<&(&Path, &str)> = guards
            .iter()
            .filter(|(_, t)| uuid::Uuid::parse_str(t).is_ok())
            .collect();
        if let Some((a_path, a)) = guids.first()
            && let Some((b_path, b)) = guids.iter().find(|(_, b)| !b.eq_ignore_ascii_case(a))
        {
            return Err(Error::new(
                Class::Manifest,
                format!(
                    "the manifests are for different tenants: `{}` is for `{a}`, `{}` for `{b}`",
                    a_path.display(),
                    b_path.display()
                ),
            )
            .with_help("one run acts on one tenant; run the manifests of each tenant on their own"));
        }
        Ok(guards.first().map(|(_, t)| *t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(path: &str, tenant: Option<&str>, names: &[&str]) -> Desired {
        let mut text = tenant.map(|t| format!("tenant = \"{t}\"\n")).unwrap_or_default();
        for n in names {
            text.push_str(&format!(
                "[[app]]\nunique_name = \"{n}\"\ndisplay_name = \"{n}\"\n"
            ));
        }
        let mut d = crate::manifest::parse(path, &text).expect("valid");
        d.source = PathBuf::from(path);
        d
    }

    #[test]
    fn a_file_named_twice_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.toml");
        std::fs::write(&a, "").unwrap();
        std::fs::write(dir.path().join("b.toml"), "").unwrap();
        let again = dir.path().join(".").join("a.toml");
        let files = expand(&[a.clone(), dir.path().to_path_buf(), again]).unwrap();
        assert_eq!(files, [a, dir.path().join("b.toml")]);
    }

    #[test]
    fn a_set_joins_apps_in_manifest_order_and_knows_their_manifest() {
        let set = Set::new(
            vec![
                manifest("a.toml", None, &["x", "y"]),
                manifest("b.toml", None, &["z"]),
            ],
            &[],
        )
        .unwrap();
        let names: Vec<&str> = set.combined.apps.iter().map(|a| a.unique_name.as_str()).collect();
        assert_eq!(names, ["x", "y", "z"]);
        let owners: Vec<usize> = ["x", "y", "z"]
            .iter()
            .map(|n| set.owner[&AppKey::of(n)])
            .collect();
        assert_eq!(owners, [0, 0, 1]);
        assert_eq!(set.in_run(), [0, 1]);
        assert!(set.several() && !set.partial());
        assert_eq!(set.manifest_of("Z").unwrap().source, PathBuf::from("b.toml"));
        assert!(set.whole(0) && set.whole(1));
    }

    #[test]
    fn targets_pick_apps_without_case_and_an_unknown_one_suggests() {
        let ms = || {
            vec![
                manifest("a.toml", None, &["soc-reader", "y"]),
                manifest("b.toml", None, &["z"]),
            ]
        };
        let set = Set::new(ms(), &["Y".into(), "y".into()]).unwrap();
        assert_eq!(set.targets, ["y"]);
        assert_eq!(set.combined.apps.len(), 1);
        assert!(!set.several() && set.partial() && !set.whole(0));
        assert_eq!(set.in_run(), [0]);
        assert_eq!(set.part(0).apps[0].unique_name, "y");
        let e = Set::new(ms(), &["soc-raeder".into()]).unwrap_err();
        assert_eq!(e.message, "`--target soc-raeder` names no app of the manifests");
        assert_eq!(e.help.as_deref(), Some("did you mean `soc-reader`?"));
    }

    #[test]
    fn two_tenant_guids_are_refused_and_a_domain_is_left_to_sign_in() {
        let g1 = "11111111-1111-1111-1111-111111111111";
        let g2 = "22222222-2222-2222-2222-222222222222";
        let e = Set::new(
            vec![
                manifest("a.toml", Some(g1), &["x"]),
                manifest("b.toml", Some(g2), &["y"]),
            ],
            &[],
        )
        .unwrap_err();
        assert_eq!(e.class, Class::Manifest);
        assert!(e.message.contains("`a.toml` is for `11111111"), "{}", e.message);
        // Not when --target leaves one of them out of the run.
        let set = Set::new(
            vec![
                manifest("a.toml", Some(g1), &["x"]),
                manifest("b.toml", Some(g2), &["y"]),
            ],
            &["y".into()],
        )
        .unwrap();
        assert_eq!(set.combined.tenant.as_deref(), Some(g2));
        let set = Set::new(
            vec![
                manifest("a.toml", Some("contoso.com"), &["x"]),
                manifest("b.toml", Some(g1), &["y"]),
                manifest("c.toml", Some("CONTOSO.com"), &["z"]),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(set.tenant_names(), ["contoso.com", g1]);
        assert_eq!(set.guards().len(), 3);
    }
}
