//! A local Microsoft Graph + identity platform emulator (SPEC.md "Emulator").

pub mod identity;
