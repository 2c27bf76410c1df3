//! Password hashing and checking (argon2id, PHC strings), on threads and memory of its own.
//!
//! argon2 fills about 19 MiB per hash, by design. Through the argon2 crate's own helpers
//! each hash allocated that anew, on whichever thread of tokio's blocking pool ran it, and
//! glibc kept the freed memory in that thread's malloc arena: failed console logins in
//! parallel left the process at 150-275 MiB. Here [`THREADS`] long-lived threads each fill
//! one buffer of their own, allocated at their first hash and reused: hashing holds at most
//! `THREADS` x 19 MiB, whatever the load. Callers bound how much waits (the console runs two
//! checks at once).

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::phc::{Output, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::TryRngCore;

use crate::StoreError;

/// Threads hashing passwords.
pub(crate) const THREADS: usize = 2;

/// Most memory one hash may fill, in 1 KiB blocks (64 MiB). The hashes checked are the
/// store's own, but a PHC string asking for gigabytes must not get them.
const MAX_BLOCKS: usize = 64 * 1024;

type Job = Box<dyn FnOnce() + Send>;

thread_local! {
    /// The hashing thread's memory, kept between hashes.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// The queue to the hashing threads, started on first use.
fn jobs() -> &'static mpsc::Sender<Job> {
    static JOBS: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    JOBS.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..THREADS {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("pontoon-hash-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only to take the next job.
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        // A panicking job must not take the thread with it.
                        let _ = catch_unwind(AssertUnwindSafe(job));
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        tx
    })
}

/// Runs `f` on a hashing thread and waits for its result.
async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, StoreError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    jobs()
        .send(job)
        .map_err(|_| StoreError::Hashing("no password hashing thread".to_owned()))?;
    rx.await
        .map_err(|_| StoreError::Hashing("password hashing task failed".to_owned()))
}

/// Hashes `password` with `argon` and `salt` into `out`, in the thread's own memory.
fn fill(
    argon: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), String> {
    let count = params.block_count();
    if count > MAX_BLOCKS {
        return Err(format!("{count} KiB of memory asked for one hash"));
    }
    BLOCKS.with(|blocks| {
        let mut blocks = blocks.borrow_mut();
        if blocks.len() < count {
            blocks.resize(count, Block::default());
        }
        argon
            .hash_password_into_with_memory(password, salt, out, &mut blocks[..count])
            .map_err(|e| e.to_string())
    })
}

/// A 32-byte key derived from `password` and `salt` with argon2id and its default
/// parameters, on a hashing thread (see [`crate::UserKey`]).
pub(crate) async fn derive_key(password: String, salt: [u8; 16]) -> Result<[u8; 32], StoreError> {
    run(move || {
        let params = Params::default();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut out = [0u8; 32];
        fill(&argon, &params, password.as_bytes(), &salt, &mut out).map(|()| out)
    })
    .await?
    .map_err(StoreError::Hashing)
}

/// The PHC string of `password` hashed with argon2id and its default parameters.
pub(crate) async fn hash(password: String) -> Result<String, StoreError> {
    run(move || {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng
            .try_fill_bytes(&mut salt)
            .map_err(|_| "operating system random generator failed".to_owned())?;
        let params = Params::default();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        fill(&argon, &params, password.as_bytes(), &salt, &mut out)?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: (&params)
                .try_into()
                .map_err(|e: argon2::password_hash::Error| e.to_string())?,
            salt: Some(Salt::new(&salt).map_err(|e| e.to_string())?),
            hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
        };
        Ok::<_, String>(phc.to_string())
    })
    .await?
    .map_err(StoreError::Hashing)
}

/// Whether `password` is the one hashed in the PHC string `phc` (false for a malformed one).
pub(crate) async fn verify(password: String, phc: String) -> Result<bool, StoreError> {
    run(move || check(password.as_bytes(), &phc).unwrap_or(false)).await
}

fn check(password: &[u8], phc: &str) -> Option<bool> {
    let hash = PasswordHash::new(phc).ok()?;
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return None;
    };
    let algorithm = Algorithm::try_from(hash.algorithm.as_str()).ok()?;
    let version = match hash.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(&hash).ok()?;
    let argon = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    fill(&argon, &params, password, salt.as_ref(), &mut out).ok()?;
    // Output's equality is constant-time.
    Some(Output::new(&out).ok()? == *expected)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use argon2::PasswordVerifier;

    #[tokio::test]
    async fn runs_jobs_and_survives_a_panic() {
        assert_eq!(run(|| 2 + 2).await.unwrap(), 4);
        let failed = run(|| -> u8 { panic!("boom") }).await;
        assert!(matches!(failed, Err(StoreError::Hashing(_))));
        // Every thread still works after the panic.
        for _ in 0..2 * THREADS {
            let name = run(|| std::thread::current().name().map(str::to_owned))
                .await
                .unwrap();
            assert!(name.unwrap().starts_with("pontoon-hash-"));
        }
    }

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings_the_crate_agrees_with() {
        let phc = hash("hunter2".to_owned()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        // The argon2 crate's own check agrees, both ways.
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"hunter2", &parsed)
                .is_ok()
        );
        assert!(verify("hunter2".to_owned(), phc.clone()).await.unwrap());
        assert!(!verify("hunter3".to_owned(), phc).await.unwrap());
        // A hash made by the crate (as by earlier versions of Pontoon) still checks.
        let old = argon2::PasswordHasher::hash_password(&Argon2::default(), b"old")
            .unwrap()
            .to_string();
        assert!(verify("old".to_owned(), old).await.unwrap());
    }

    #[tokio::test]
    async fn malformed_or_greedy_hashes_never_match() {
        for phc in [
            "",
            "$argon2id$v=19$m=19456,t=2,p=1$",
            "$argon2id$v=19$m=4194304,t=1,p=1$IR4HTUNoAqyzYht3qjliGw$xfIcts+vLd4H/bweXpJAluIFgFqIELeYmXHQYtME5ic",
            "$bcrypt$whatever",
        ] {
            assert!(
                !verify("x".to_owned(), phc.to_owned()).await.unwrap(),
                "{phc}"
            );
        }
    }
}
