//! apply's read-back (issue 12 §2): after its writes, apply reads the tenant again until Graph
//! returns what it wrote, so that `apply && plan --detailed-exitcode` exits 0 even while
//! Entra replicates (a grant or app role assignment just written is not listed at once:
//! https://learn.microsoft.com/en-us/graph/api/oauth2permissiongrant-list).
//!
//! One read-back is one round: with the IDs apply learned, each app's application, service
//! principal, grants (`$filter=clientId eq …`) and app role assignments, and each resource
//! API's service principal, are read concurrently; the planner (pure) then compares them with
//! the manifest. What apply did not do (consent the caller may not grant) is not waited for.
//! Reads repeat with the client's backoff, bounded by `--max-wait`; `--no-wait` skips it all.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::future::try_join_all;

use crate::apply::Report;
use crate::error::{Error, Result};
use crate::graph::retry::Agreement;
use crate::graph::{GraphClient, GraphError};
use crate::model::{ApiRef, Desired};
use crate::output::Printer;
use crate::plan::{Action, Observed, ObservedApp, Plan};

/// What the read-back saw: how many rounds it read and how long it waited between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadBack {
    pub rounds: u32,
    pub waited: Duration,
}

/// Read back until the tenant shows what `report` says apply did. Skipped (returns `None`)
/// when apply failed: the error is what the user needs then.
pub async fn wait(
    graph: &GraphClient,
    desired: &Desired,
    plan: &Plan,
    report: &Report,
    printer: &Printer,
) -> Result<Option<ReadBack>> {
    if report.first_error().is_some() {
        return Ok(None);
    }
    let policy = graph.policy();
    let started = Instant::now();
    let mut rounds = 0u32;
    let mut told = false;
    // What apply found as the manifest wants it (no step) showed in the tenant already.
    let mut vanished = Vanished::new(&items(plan, report));
    loop {
        rounds += 1;
        let observed = match read(graph, desired, plan, report).await {
            Ok(o) => o,
            // The identity may write what it may not list (grants need
            // DelegatedPermissionGrant.ReadWrite.All or Directory.Read.All to be listed): the
            // writes stand, only the wait for them is given up.
            Err(e) if e.status() == Some(403) => {
                printer.warn(&format!(
                    "cannot read back what apply wrote ({e}); `provision plan` may show changes until Graph has replicated them"
                ));
                return Ok(None);
            }
            Err(e) => return Err(e.to_error(Some("reading back what apply wrote"))),
        };
        let items = compare(desired, &observed, report);
        let pending: Vec<String> = items
            .iter()
            .filter(|(_, shown)| !shown)
            .map(|(what, _)| what.clone())
            .collect();
        if pending.is_empty() {
            let waited = started.elapsed();
            if told {
                printer.status(&format!(
                    "Microsoft Graph shows every change ({:.1}s).",
                    waited.as_secs_f64()
                ));
            }
            return Ok(Some(ReadBack { rounds, waited }));
        }
        // An application that does not show after the first round may be gone for good: a
        // concurrent `destroy` (or a person) deleted it. Deleted items say so at once, where
        // waiting would only run out the time budget.
        if rounds >= 2
            && let Some(name) = deleted_meanwhile(graph, desired, plan, &observed, report).await?
        {
            return Err(Error::failure(format!(
                "the application `{name}` was deleted while apply waited for Microsoft Graph to show it"
            ))
            .with_help("another run or a person deleted it; run `provision apply` again to create it"));
        }
        // What the tenant showed (before apply or in an earlier round) and no longer shows was
        // changed by someone else (a destroy that also purged, a person): it will not come
        // back by waiting.
        let gone = vanished.round(&items, Instant::now());
        if !gone.is_empty() {
            return Err(Error::failure(format!(
                "{} showed in the tenant and then went away while apply waited for Microsoft Graph",
                gone.join(", ")
            ))
            .with_help("another run or a person changed the tenant meanwhile; run `provision apply` again to put it back"));
        }
        let delay = policy.backoff(rounds, rand::random());
        if !policy.fits(started.elapsed(), delay) {
            return Err(Error::failure(format!(
                "Microsoft Graph did not show what apply wrote within {}s: {}",
                policy.budget.as_secs(),
                pending.join(", ")
            ))
            .with_help(
                "the writes were made; run `provision plan` to see what still differs, or raise --max-wait",
            ));
        }
        if !told {
            printer.status(&format!(
                "Waiting for Microsoft Graph to show what apply wrote ({}).",
                pending.join(", ")
            ));
            told = true;
        }
        printer.verbose(&format!(
            "  read-back {rounds}: not shown yet: {}; reading again in {:.3}s",
            pending.join(", "),
            delay.as_secs_f64()
        ));
        tokio::time::sleep(delay).await;
    }
}

/// The unique name of an app apply created or updated that no longer reads back and sits in
/// deleted items (one `GET /directory/deletedItems/microsoft.graph.application`, only when some
/// application is missing).
async fn deleted_meanwhile(
    graph: &GraphClient,
    desired: &Desired,
    plan: &Plan,
    observed: &Observed,
    report: &Report,
) -> Result<Option<String>> {
    // The object id apply learned, else the one the plan observed (an app apply only added
    // grants or assignments to).
    let missing: Vec<(&str, &str)> = desired
        .apps
        .iter()
        .filter(|d| {
            observed
                .app(&d.unique_name)
                .is_none_or(|o| o.application.is_none())
        })
        .filter_map(|d| {
            let id = report
                .app(&d.unique_name)
                .and_then(|r| r.object_id.as_deref())
                .or_else(|| plan.app(&d.unique_name)?.application.object_id.as_deref())?;
            Some((d.unique_name.as_str(), id))
        })
        .collect();
    if missing.is_empty() {
        return Ok(None);
    }
    let deleted = match graph.deleted_applications().await {
        Ok(d) => d,
        // Deleted items need more than apply's own writes may need: no verdict then.
        Err(e) if e.status() == Some(403) => return Ok(None),
        Err(e) => return Err(e.to_error(Some("reading deleted items"))),
    };
    Ok(missing
        .into_iter()
        .find(|(_, id)| deleted.iter().any(|a| a.id == *id))
        .map(|(name, _)| name.to_owned()))
}

/// One round of reads, shaped as the planner's input.
async fn read(
    graph: &GraphClient,
    desired: &Desired,
    plan: &Plan,
    report: &Report,
) -> std::result::Result<Observed, GraphError> {
    let apis: BTreeSet<&ApiRef> = desired
        .apps
        .iter()
        .flat_map(|a| a.api_permissions.iter().map(|p| &p.api))
        .collect();
    let apps = try_join_all(desired.apps.iter().map(|app| async move {
        let done = report.app(&app.unique_name);
        let step = plan.app(&app.unique_name);
        let client_id = done
            .and_then(|r| r.client_id.clone())
            .or_else(|| step.and_then(|s| s.application.app_id.clone()));
        let sp_id = done
            .and_then(|r| r.service_principal_id.clone())
            .or_else(|| step.and_then(|s| s.service_principal_id.clone()));
        // Consent the caller may not grant is not waited for, nor read.
        let consent_left = done.is_some_and(|r| !r.consent_denied.is_empty());
        let sp_id = sp_id.filter(|_| !consent_left);
        let application = async {
            match &app.app_id {
                Some(pinned) => graph.application_by_app_id(pinned).await,
                None => graph.application_by_unique_name(&app.unique_name).await,
            }
        };
        let service_principal = async {
            match &client_id {
                Some(c) => graph.service_principal_by_app_id(c).await,
                None => Ok(None),
            }
        };
        // Only what the plan manages is read: an app without grant (or assignment) steps had
        // none to write and none to revoke.
        let wants_grants = step.is_some_and(|s| !s.grants.is_empty());
        let wants_assignments = step.is_some_and(|s| !s.assignments.is_empty());
        let grants = async {
            match &sp_id {
                Some(sp) if wants_grants => graph.grants_of_client(sp).await,
                _ => Ok(Vec::new()),
            }
        };
        let assignments = async {
            match &sp_id {
                // A service principal not replicated yet: 404 here, and its own read above
                // says it is not there yet.
                Some(sp) if wants_assignments => match graph.assignments_of_sp(sp, false).await {
                    Err(e) if e.is_not_found() => Ok(Vec::new()),
                    other => other,
                },
                _ => Ok(Vec::new()),
            }
        };
        let object_id = done
            .and_then(|r| r.object_id.clone())
            .or_else(|| step.and_then(|s| s.application.object_id.clone()));
        let held = crate::ownership::read_app(graph, app, object_id.as_deref());
        let (application, service_principal, grants, assignments, held) =
            futures::join!(application, service_principal, grants, assignments, held);
        let (owners, federated_credentials) = held?;
        let observed = ObservedApp {
            owners,
            federated_credentials,
            application: application?,
            service_principal: service_principal?,
            grants: grants?,
            assignments: assignments?,
            deleted_application: None,
            deleted_service_principal: None,
        };
        Ok::<_, GraphError>((app.key(), observed))
    }));
    let resources = try_join_all(apis.iter().map(|api| async move {
        let state = crate::observe::lookup_resource(graph, api).await?;
        Ok::<_, GraphError>(((*api).clone(), state))
    }));
    let owner_refs = crate::ownership::resolve_owner_refs(graph, desired);
    let (apps, resources, owner_refs) = futures::join!(apps, resources, owner_refs);
    Ok(Observed {
        owner_refs: owner_refs?,
        signed_in: plan.signed_in.clone(),
        tenant_id: plan.tenant_id.clone(),
        apps: apps?.into_iter().collect(),
        resources: resources?.into_iter().collect(),
        // Names for GUIDs the manifest does not name: the read-back only asks what is pending.
        others: Vec::new(),
    })
}

/// Every item of the manifest the read-back looks at, in plain words, and whether the tenant
/// shows it as the manifest wants (planning against what was read finds nothing to do for it).
/// A resource API not readable yet reads as "not found": waited for too.
fn compare(desired: &Desired, observed: &Observed, report: &Report) -> Vec<(String, bool)> {
    match crate::plan::plan(desired, observed) {
        Ok(again) => items(&again, report),
        Err(problems) => problems.into_iter().map(|p| (p.message, false)).collect(),
    }
}

/// The items of a plan and whether each needs no step. An app whose consent the caller may
/// not grant is looked at up to its service principal only.
fn items(plan: &Plan, report: &Report) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = plan
        .resource_service_principals
        .iter()
        .map(|r| (format!("service principal of {}", r.name), false))
        .collect();
    for app in &plan.apps {
        let name = &app.unique_name;
        let consent_left = report.app(name).is_some_and(|r| !r.consent_denied.is_empty());
        out.push((
            format!("application {name}"),
            app.application.action == Action::NoOp,
        ));
        out.push((
            format!("service principal of {name}"),
            app.service_principal == Action::NoOp,
        ));
        if consent_left {
            continue;
        }
        for g in &app.grants {
            out.push((
                format!("consent of {name} on {}", g.resource),
                g.action == Action::NoOp,
            ));
        }
        for a in &app.assignments {
            out.push((
                format!("app role {} of {name} on {}", a.role, a.resource),
                a.action == Action::NoOp,
            ));
        }
        for o in &app.owners {
            out.push((format!("owner {} of {name}", o.name), o.action == Action::NoOp));
        }
        for f in &app.federated_credentials {
            out.push((
                format!("federated credential {} of {name}", f.name),
                f.action == Action::NoOp,
            ));
        }
    }
    out
}

/// What the tenant has shown as the manifest wants it, and for each such item that no longer
/// shows, how long it has been missing ([`Agreement`]: enough rounds in a row over enough time
/// that a replica behind the others cannot explain it).
#[derive(Debug, Default)]
struct Vanished {
    shown: BTreeSet<String>,
    missing: BTreeMap<String, Agreement>,
}

impl Vanished {
    fn new(before: &[(String, bool)]) -> Self {
        Vanished {
            shown: before
                .iter()
                .filter(|(_, s)| *s)
                .map(|(w, _)| w.clone())
                .collect(),
            missing: BTreeMap::new(),
        }
    }

    /// Take one round's items; those that went away for good.
    fn round(&mut self, items: &[(String, bool)], now: Instant) -> Vec<String> {
        let mut gone = Vec::new();
        for (what, shown) in items {
            if *shown {
                self.shown.insert(what.clone());
                self.missing.remove(what);
            } else if self.shown.contains(what)
                && self.missing.entry(what.clone()).or_default().record(true, now)
            {
                gone.push(what.clone());
            }
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(list: &[(&str, bool)]) -> Vec<(String, bool)> {
        list.iter().map(|(w, s)| ((*w).to_owned(), *s)).collect()
    }

    #[test]
    fn only_what_showed_and_stays_away_has_vanished() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        // Before apply: the application showed; the consent was apply's to write.
        let mut v = Vanished::new(&items(&[("application a", true), ("consent of a on X", false)]));
        // The consent never shows: replication, waited for, never "vanished".
        // The application goes away: vanished once five rounds over twenty seconds agree.
        let round = items(&[("application a", false), ("consent of a on X", false)]);
        for s in [1, 2, 4, 8] {
            assert_eq!(v.round(&round, at(s)), Vec::<String>::new(), "round at {s}");
        }
        assert_eq!(v.round(&round, at(16)), Vec::<String>::new(), "16 s is not 20");
        assert_eq!(v.round(&round, at(21)), vec!["application a".to_owned()]);

        // What apply wrote showed in one round and not in the next: the same rule.
        let mut w = Vanished::new(&items(&[("consent of a on X", false)]));
        assert!(w.round(&items(&[("consent of a on X", true)]), at(0)).is_empty());
        let away = items(&[("consent of a on X", false)]);
        for s in [1, 2, 4, 8, 16] {
            assert!(w.round(&away, at(s)).is_empty());
        }
        // Back again: the count starts over.
        assert!(w.round(&items(&[("consent of a on X", true)]), at(17)).is_empty());
        for s in [18, 19, 20, 30] {
            assert!(w.round(&away, at(s)).is_empty(), "round at {s}");
        }
        assert_eq!(w.round(&away, at(38)), vec!["consent of a on X".to_owned()]);
    }
}
