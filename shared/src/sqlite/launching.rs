//! A new execution on its way to the writer: encoded beforehand, off the writer thread every
//! write waits for, as it is recorded if it runs at once (claimed already, for a runner of this
//! process, when a lease came with it).

use crate::domain::{Execution, Lease};
use crate::repo::{keeps_claim, launched_as, RepoResult};
use std::sync::Arc;

pub struct Launching {
    /// As it is recorded if it runs at once, and its document.
    launched: Execution,
    doc: Arc<str>,
    /// As it came: what a busy workflow buffers, or what runs if the claim cannot be kept.
    pub plain: Execution,
    claimed: bool,
}

impl Launching {
    pub fn new(e: &Execution, claim_for: Option<&Lease>) -> RepoResult<Self> {
        let launched = launched_as(e, claim_for);
        Ok(Self {
            doc: serde_json::to_string(&launched)?.into(),
            launched,
            plain: e.clone(),
            claimed: claim_for.is_some(),
        })
    }

    /// The document a copy of the queued execution is kept with (see `queued`), if it is
    /// recorded queued whatever the workflow's version (no claim came with it).
    pub fn queued_doc(&self) -> Option<Arc<str>> {
        (!self.claimed).then(|| self.doc.clone())
    }

    /// What runs at once for a workflow now at `version`, with its document: claimed only
    /// while [`keeps_claim`] holds.
    pub fn for_version(self, version: u64) -> RepoResult<(Execution, Arc<str>)> {
        if self.claimed && !keeps_claim(&self.plain, version) {
            let doc = serde_json::to_string(&self.plain)?.into();
            return Ok((self.plain, doc));
        }
        Ok((self.launched, self.doc))
    }
}
