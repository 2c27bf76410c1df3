//! Deletes what is no longer served: slots whose time passed without a PUT, and files
//! older than the retention. Rows first, then files, a bounded batch at a time; a file
//! left by a crash between the two is deleted at the next sweep of its row.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::FileService;

/// Time between sweeps.
const EVERY: Duration = Duration::from_secs(300);
/// Uploads deleted per round at most.
const BATCH: i64 = 500;

pub(super) async fn run(svc: FileService, shutdown: CancellationToken) {
    loop {
        sweep_once(&svc).await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

/// One round: at most [`BATCH`] uploads.
pub(crate) async fn sweep_once(svc: &FileService) -> usize {
    let cutoff = svc.0.cfg.retention.map(|r| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        i64::try_from(now.saturating_sub(r.as_secs())).unwrap_or(i64::MAX)
    });
    let ids = match svc.0.store.stale_uploads(cutoff, BATCH).await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error = %e, "uploads: the sweep could not read the store");
            return 0;
        }
    };
    for id in &ids {
        for path in [svc.path_of(id), svc.0.cfg.dir.join(format!("{id}.part"))] {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(error = %e, "uploads: a file could not be deleted"),
            }
        }
        if let Err(e) = svc.0.store.delete_upload(id).await {
            tracing::warn!(error = %e, "uploads: the sweep could not write the store");
        }
    }
    if !ids.is_empty() {
        tracing::info!(
            deleted = ids.len(),
            "uploads: expired slots and files deleted"
        );
    }
    ids.len()
}
