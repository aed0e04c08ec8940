//! TEMPORARY local shim (not committed): replaced by the emulator branch.
use std::path::PathBuf;
#[derive(Clone, Debug, Default)]
pub struct Config { pub state: Option<PathBuf> }
impl Config { pub fn local() -> Self { Config::default() } }
#[derive(Clone, Debug, serde::Serialize)]
pub struct Ready { pub graph_url: String, pub authority_url: String, pub tenant_id: String, pub client_id: String, pub client_secret: String }
pub struct Running { pub ready: Ready }
impl Running { pub async fn shutdown(self) {} }
pub async fn start(_c: Config) -> crate::Result<Running> { Err(crate::Error::failure("shim")) }
