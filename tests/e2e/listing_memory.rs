//! Listing large workflows keeps memory flat: ten concurrent `GET /workflows?limit=500` over
//! forty 0.9 MB workflows once took the process from 51 MB to 642 MB; a page now holds at most
//! about 2 MiB of definitions (follow `nextCursor` for the rest).

use crate::support::process::{settings, Service};
use crate::support::Transport;
use serde_json::json;

const WORKFLOWS: usize = 40;
const CLIENTS: usize = 10;
/// Far below the 590 MB the listing once added, far above what a bounded page costs.
const MAX_GROWTH_MIB: u64 = 160;

async fn concurrent_listings_of_large_workflows_keep_memory_flat(transport: Transport) {
    let Some(stack) = transport.settings("concurrent_listings_keep_memory_flat") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let product = Service::start("wfa", &settings(dir.path(), stack), dir.path(), true).await;
    let api = &product.api;
    let body = "x".repeat(900_000);
    for i in 0..WORKFLOWS {
        api.create(
            &json!({"workflowId": format!("big-{i}"), "trigger": {"type": "manual"},
            "actions": [{"type": "http-request", "url": "http://127.0.0.1:9/", "body": body}]}),
        )
        .await;
    }
    let (before, _) = product.memory_kib();
    let mut listed = 0;
    for _ in 0..3 {
        let pages =
            futures_util::future::join_all((0..CLIENTS).map(|_| api.get("/workflows?limit=500")))
                .await;
        for (status, page) in pages {
            assert_eq!(status, 200, "{page}");
            assert!(
                page["nextCursor"].is_string(),
                "a page this large is cut short"
            );
            listed += page["items"].as_array().unwrap().len();
        }
    }
    let (after, peak) = product.memory_kib();
    println!(
        "RSS before the listings {} MiB, after {} MiB, peak {} MiB ({listed} workflows listed)",
        before / 1024,
        after / 1024,
        peak / 1024
    );
    assert!(
        peak.saturating_sub(before) / 1024 < MAX_GROWTH_MIB,
        "listing grew the process from {} MiB to a peak of {} MiB",
        before / 1024,
        peak / 1024
    );
    // Paging on reaches every workflow.
    let mut cursor: Option<String> = None;
    let mut seen = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/workflows?limit=500&cursor={c}"),
            None => "/workflows?limit=500".to_string(),
        };
        let (_, page) = api.get(&path).await;
        seen += page["items"].as_array().unwrap().len();
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, WORKFLOWS);
}

crate::on_every_transport!(concurrent_listings_of_large_workflows_keep_memory_flat);
