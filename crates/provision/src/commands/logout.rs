//! `provision logout`: forget the cached interactive sign-ins (refresh tokens), all of them or,
//! with `--tenant`, those of one tenant. Local only: the refresh tokens are not revoked in Entra
//! (an administrator revokes a user's sessions there).

use crate::auth::cache::TokenCache;
use crate::cli::GlobalArgs;
use crate::error::Result;
use crate::output::Printer;

pub fn run(global: &GlobalArgs, printer: &Printer) -> Result<i32> {
    let cache = TokenCache::default_location()?;
    let removed = cache.clear(global.tenant.as_deref())?;
    {
        let doc = serde_json::json!({
            "format_version": crate::render::FORMAT_VERSION,
            "forgotten": removed.iter().map(|e| serde_json::json!({
                "authority": e.authority,
                "tenant": e.tenant,
                "tenant_id": e.tenant_id,
                "client_id": e.client_id,
                "account": e.account,
            })).collect::<Vec<_>>(),
        });
        // The text view is the status lines below.
        printer.result(&doc, String::new)?;
    }
    if removed.is_empty() {
        printer.status("no cached sign-ins to forget");
    }
    for e in &removed {
        printer.status(&format!(
            "forgot the sign-in of {} to tenant {} (client {})",
            e.account.as_deref().unwrap_or("an unknown account"),
            if e.tenant_id.is_empty() {
                &e.tenant
            } else {
                &e.tenant_id
            },
            e.client_id
        ));
    }
    Ok(0)
}
