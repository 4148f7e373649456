//! `tollgate copy`: every record of one store into another, secret hashes included, so that
//! every token keeps working on the target (SQLite to PostgreSQL or Redis, and back).
//!
//! Both stores are walked by id, side by side (every store pages by ascending id, compared
//! bytewise), so that a re-run sees at once what is new, changed or gone:
//! - a record only the source has is written to the target;
//! - a record both have is written again if it differs and the source's is as new or newer
//!   (`updated_at`): a revocation made on the source before the cut-over reaches the target.
//!   One whose target copy is newer (changed on the target since) is kept, and named;
//! - a record only the target has is deleted with `--prune`, counted otherwise.
//!
//! When a token was last used is not a change: the later of the two is kept. Each write is
//! [`TokenStore::replace`], one atomic write per record on this crate's stores, so a server
//! already on the target sees the old record or the new one, never none.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures_util::StreamExt as _;
use serde_json::json;
use tollgate::store::TokenStore;
use tollgate::{ListQuery, StoreError, TokenRecord};

use crate::args::{CopyArgs, Global};
use crate::error::Failure;
use crate::output;
use crate::progress::Progress;
use crate::store::{Place, open_store, without_password};

/// Records read per page, from each store.
const PAGE: usize = 500;

/// Writes to the target in flight at once.
const IN_FLIGHT: usize = 8;

/// Ids named in a summary, at most.
const NAMED: usize = 20;

/// One side of the copy.
struct Side {
    store: Arc<dyn TokenStore>,
    name: String,
}

impl Side {
    fn failed(&self, err: &StoreError) -> Failure {
        Failure::from_store(err, &self.name)
    }
}

/// What a copy did, for its summary.
#[derive(Debug, Default)]
struct Tally {
    read: u64,
    created: u64,
    updated: u64,
    unchanged: u64,
    /// Kept because the target's copy is newer.
    newer_on_target: Vec<String>,
    /// Refused by the target, with why.
    refused: Vec<(String, String)>,
    target_only: u64,
    pruned: u64,
    owners: u64,
}

impl Tally {
    fn written(&self) -> u64 {
        self.created + self.updated + self.pruned + self.owners
    }
}

/// Runs `tollgate copy`.
pub(crate) async fn run(args: CopyArgs, global: &Global) -> Result<(), Failure> {
    let from = open(&args.from, global.schema.as_str(), global.prefix.as_str(), false).await?;
    let to = open(
        &args.to,
        args.to_schema.as_deref().unwrap_or(&global.schema),
        args.to_prefix.as_deref().unwrap_or(&global.prefix),
        true,
    )
    .await?;
    if from.name == to.name && args.to_schema.is_none() && args.to_prefix.is_none() {
        return Err(Failure::usage(format!(
            "--from and --to name the same store ({})\n  \
             give another --to, or --to-schema / --to-prefix for another place in it",
            from.name
        )));
    }
    carry_pepper(&from, &to).await?;
    let mut tally = Tally::default();
    let mut progress = Progress::new("records read", None);
    copy_records(&from, &to, args.prune, &mut tally, &mut progress).await?;
    progress.finish();
    let mismatches = if args.verify {
        Some(verify(&from, &to).await?)
    } else {
        None
    };
    report(&tally, mismatches.as_ref(), &from, &to, global.json);
    if !tally.refused.is_empty() {
        return Err(Failure::refused(format!(
            "{} record(s) refused by the target: see above; the others were copied",
            tally.refused.len()
        )));
    }
    match mismatches {
        Some(found) if !found.is_empty() => Err(Failure::refused(format!(
            "--verify: {} record(s) differ between the stores: see above",
            found.len()
        ))),
        _ => Ok(()),
    }
}

/// The source's pepper fingerprint goes with its hashes: recorded on a target that has none,
/// and a target that records another is refused before anything is copied (its servers would
/// refuse every token copied).
async fn carry_pepper(from: &Side, to: &Side) -> Result<(), Failure> {
    let Some(recorded) = from.store.pepper_fingerprint().await.map_err(|err| from.failed(&err))? else {
        // A store from before fingerprints: nothing to compare; say what the target expects.
        if let Some(there) = to.store.pepper_fingerprint().await.map_err(|err| to.failed(&err))? {
            eprintln!(
                "note: {} records no pepper fingerprint, {} records {there}: the copied tokens work on the \
                 target only if they were hashed under that pepper",
                from.name, to.name
            );
        }
        return Ok(());
    };
    match to
        .store
        .claim_pepper_fingerprint(&recorded)
        .await
        .map_err(|err| to.failed(&err))?
    {
        Some(there) if there != recorded => Err(Failure::refused(format!(
            "the two stores hash secrets under different peppers: {} records the fingerprint {recorded}, \
             {} records {there}\n  a copied token would be refused by every server of the target: \
             copy to a store its servers have not used yet, or to one of the same pepper",
            from.name, to.name
        ))),
        _ => Ok(()),
    }
}

async fn open(url: &str, schema: &str, prefix: &str, create: bool) -> Result<Side, Failure> {
    let name = without_password(url);
    let store = open_store(url, &name, Place { schema, prefix, create }).await?;
    Ok(Side { store, name })
}

/// The walk: both stores by id, side by side.
async fn copy_records(
    from: &Side,
    to: &Side,
    prune: bool,
    tally: &mut Tally,
    progress: &mut Progress,
) -> Result<(), Failure> {
    let mut source = Walk::new(&from.store);
    let mut target = Walk::new(&to.store);
    let mut owners = BTreeSet::new();
    let mut writes: Vec<Write> = Vec::new();
    let mut deletes: Vec<String> = Vec::new();
    let (mut s, mut t) = (
        source.next().await.map_err(|err| from.failed(&err))?,
        target.next().await.map_err(|err| to.failed(&err))?,
    );
    loop {
        match (s.take(), t.take()) {
            (None, None) => break,
            (Some(record), there) if there.as_ref().is_none_or(|there| record.id < there.id) => {
                tally.read += 1;
                progress.advance(1);
                owners.extend(record.owner.clone());
                writes.push(Write { record, seen: None });
                t = there;
                s = source.next().await.map_err(|err| from.failed(&err))?;
            }
            (Some(record), Some(there)) if record.id == there.id => {
                tally.read += 1;
                progress.advance(1);
                owners.extend(record.owner.clone());
                if same(&record, &there) {
                    tally.unchanged += 1;
                } else if there.updated_at > record.updated_at {
                    tally.newer_on_target.push(record.id);
                } else {
                    let last_used_at = record.last_used_at.max(there.last_used_at);
                    let record = record.with_last_used_at(last_used_at);
                    let seen = Some(there.updated_at);
                    writes.push(Write { record, seen });
                }
                s = source.next().await.map_err(|err| from.failed(&err))?;
                t = target.next().await.map_err(|err| to.failed(&err))?;
            }
            (here, Some(there)) => {
                tally.target_only += 1;
                if prune {
                    deletes.push(there.id);
                }
                s = here;
                t = target.next().await.map_err(|err| to.failed(&err))?;
            }
            (Some(_), None) => unreachable!("a record with no target record is the second arm's"),
        }
        if writes.len() + deletes.len() >= PAGE {
            flush(to, &mut writes, &mut deletes, tally).await?;
        }
    }
    flush(to, &mut writes, &mut deletes, tally).await?;
    for owner in owners {
        let settings = from
            .store
            .owner_settings(&owner)
            .await
            .map_err(|err| from.failed(&err))?;
        let there = to.store.owner_settings(&owner).await.map_err(|err| to.failed(&err))?;
        if settings != there {
            to.store
                .set_owner_settings(&owner, &settings)
                .await
                .map_err(|err| to.failed(&err))?;
            tally.owners += 1;
        }
    }
    Ok(())
}

/// Equal but for when the token was last used, which servers move on by themselves.
fn same(source: &TokenRecord, target: &TokenRecord) -> bool {
    *source == target.clone().with_last_used_at(source.last_used_at)
}

/// A record to write to the target, and when the target's record was last changed as the
/// walk read it (`None`: it had none).
struct Write {
    record: TokenRecord,
    seen: Option<time::OffsetDateTime>,
}

/// Writes and deletes what the walk collected, a few at once.
async fn flush(
    to: &Side,
    writes: &mut Vec<Write>,
    deletes: &mut Vec<String>,
    tally: &mut Tally,
) -> Result<(), Failure> {
    let store = &to.store;
    let mut results = futures_util::stream::iter(writes.drain(..).map(|write| async move {
        let id = write.record.id.clone();
        let outcome = match store.get(&id).await {
            // Changed on the target since the walk read it (a server revoked it, say): kept.
            // What changes in the instant between this read and the write is not seen.
            Ok(now) if now.as_ref().map(|r| r.updated_at) != write.seen => Ok(false),
            Ok(_) => store.replace(write.record).await.map(|()| true),
            Err(err) => Err(err),
        };
        (id, write.seen.is_none(), outcome)
    }))
    .buffer_unordered(IN_FLIGHT);
    while let Some((id, new, result)) = results.next().await {
        match result {
            Ok(false) => tally.newer_on_target.push(id),
            Ok(true) if new => tally.created += 1,
            Ok(true) => tally.updated += 1,
            Err(err @ (StoreError::DuplicateSecret | StoreError::DuplicateId)) => {
                tally.refused.push((id, err.to_string()));
            }
            Err(err) => return Err(to.failed(&err)),
        }
    }
    drop(results);
    for id in deletes.drain(..) {
        if store.delete(&id).await.map_err(|err| to.failed(&err))? {
            tally.pruned += 1;
        }
    }
    Ok(())
}

/// Every source record read again from the target and compared; the ids that differ, with
/// why.
async fn verify(from: &Side, to: &Side) -> Result<Vec<(String, &'static str)>, Failure> {
    let mut found = Vec::new();
    let mut progress = Progress::new("records verified", None);
    let mut source = Walk::new(&from.store);
    while let Some(record) = source.next().await.map_err(|err| from.failed(&err))? {
        progress.advance(1);
        match to.store.get(&record.id).await.map_err(|err| to.failed(&err))? {
            None => found.push((record.id, "missing on the target")),
            Some(there) if !same(&record, &there) => found.push((record.id, "differs on the target")),
            Some(_) => {}
        }
    }
    progress.finish();
    Ok(found)
}

fn report(tally: &Tally, mismatches: Option<&Vec<(String, &'static str)>>, from: &Side, to: &Side, json: bool) {
    let (created, updated) = (tally.created, tally.updated);
    if json {
        let mut doc = json!({
            "from": from.name,
            "to": to.name,
            "read": tally.read,
            "created": created,
            "updated": updated,
            "unchanged": tally.unchanged,
            "newer_on_target": tally.newer_on_target,
            "refused": tally.refused.iter().map(|(id, why)| json!({"id": id, "reason": why})).collect::<Vec<_>>(),
            "target_only": tally.target_only,
            "pruned": tally.pruned,
            "owner_settings": tally.owners,
        });
        if let Some(found) = mismatches {
            doc["verify"] = json!({
                "checked": tally.read,
                "differing": found.iter().map(|(id, why)| json!({"id": id, "reason": why})).collect::<Vec<_>>(),
            });
        }
        return output::print_json(&doc);
    }
    if tally.written() == 0 && tally.refused.is_empty() {
        println!(
            "Nothing to copy: {} is up to date with {} ({} record(s) read).",
            to.name, from.name, tally.read
        );
    } else {
        println!(
            "Copied {} to {}: {created} new, {updated} updated, {} unchanged ({} read).",
            from.name, to.name, tally.unchanged, tally.read
        );
    }
    if tally.owners > 0 {
        println!("Owner settings copied: {}.", tally.owners);
    }
    if !tally.newer_on_target.is_empty() {
        println!(
            "Kept, changed on the target since the source's last change ({}): {}",
            tally.newer_on_target.len(),
            named(tally.newer_on_target.iter().map(String::as_str))
        );
    }
    if tally.pruned > 0 {
        println!("Pruned from the target: {}.", tally.pruned);
    } else if tally.target_only > 0 {
        println!(
            "On the target only, kept: {} (--prune removes them).",
            tally.target_only
        );
    }
    for (id, why) in &tally.refused {
        println!("Refused by the target: {id}: {why}");
    }
    if let Some(found) = mismatches {
        if found.is_empty() {
            println!(
                "Verified: every one of the {} record(s) reads the same on the target.",
                tally.read
            );
        }
        for (id, why) in found.iter().take(NAMED) {
            println!("Verify: {id}: {why}");
        }
    }
}

fn named<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    let ids: Vec<&str> = ids.collect();
    let mut text = ids.iter().take(NAMED).copied().collect::<Vec<_>>().join(", ");
    if ids.len() > NAMED {
        text.push_str(&format!(" and {} more", ids.len() - NAMED));
    }
    text
}

/// A store's records by ascending id, a page at a time, every status.
struct Walk<'a> {
    store: &'a Arc<dyn TokenStore>,
    page: std::vec::IntoIter<TokenRecord>,
    after: Option<String>,
    last: Option<String>,
    done: bool,
}

impl<'a> Walk<'a> {
    fn new(store: &'a Arc<dyn TokenStore>) -> Self {
        Self {
            store,
            page: Vec::new().into_iter(),
            after: None,
            last: None,
            done: false,
        }
    }

    async fn next(&mut self) -> Result<Option<TokenRecord>, StoreError> {
        loop {
            if let Some(record) = self.page.next() {
                // The side-by-side walk is only right on ids in ascending byte order.
                if self.last.as_ref().is_some_and(|last| *last >= record.id) {
                    return Err(StoreError::Corrupt(format!(
                        "the store listed {} after {}: not by ascending id",
                        record.id,
                        self.last.as_deref().unwrap_or_default()
                    )));
                }
                self.last = Some(record.id.clone());
                return Ok(Some(record));
            }
            if self.done {
                return Ok(None);
            }
            let mut query = ListQuery::new(PAGE);
            if let Some(after) = self.after.take() {
                query = query.after(after);
            }
            let page = self.store.list(&query).await?;
            self.page = page.records.into_iter();
            self.done = page.next_after.is_none();
            self.after = page.next_after;
        }
    }
}
