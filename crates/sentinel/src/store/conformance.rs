//! The behaviour every [`Store`] must show, generic over a factory: SQLite runs it in its unit
//! tests, PostgreSQL runs the same suite against a live server (`conformance` feature).

use std::future::Future;
use std::sync::Arc;

use super::{
    ActiveWork, AuthTokenKind, ChunkResult, ClaimTokenCheck, ConvergencePoint, JobTarget,
    LeaderFence, NewAuthToken, NewJob, NewNode, NodeLoad, NodeSettings, NodeStatus, PendingClaim,
    PutOutcome, Store, StoreError, TransitionData,
};
use crate::domain::{
    ChunkIndex, FenceToken, JobId, JobStatus, NodeId, TokenHash, UnixMillis, UserId,
};

const T: UnixMillis = UnixMillis(1_800_000_000_000);

fn later(ms: u64) -> UnixMillis {
    UnixMillis(T.0 + ms)
}

/// Runs every check, each against a fresh store from `factory`.
pub async fn run_all<S, F, Fut>(factory: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    first_user_is_admin_and_emails_are_unique(&factory().await).await;
    auth_tokens_by_hash_kind_and_expiry(&factory().await).await;
    claim_tokens_until_revoked(&factory().await).await;
    nodes_register_claim_and_manage(&factory().await).await;
    node_load_follows_the_latest_heartbeat(&factory().await).await;
    node_capacity_and_running_follow_its_reports(&factory().await).await;
    configs_dedup_by_hash(&factory().await).await;
    job_transitions_are_version_checked(&factory().await).await;
    leader_writes_are_fenced(&factory().await).await;
    leader_result_batches_and_statuses_are_fenced(&factory().await).await;
    job_visibility_is_set_by_the_owner_only(&factory().await).await;
    job_names_and_deletion_are_the_owners(&factory().await).await;
    convergence_and_contributors_are_stored(&factory().await).await;
    concurrent_transitions_have_one_winner(Arc::new(factory().await)).await;
    chunk_results_are_idempotent(Arc::new(factory().await)).await;
    active_work_counts_unfinished_jobs_and_unmerged_iterations(&factory().await).await;
    settings_are_stored_and_replaced(&factory().await).await;
    job_targets_are_stored_with_the_job_and_only_move_forward(&factory().await).await;
    spot_checks_and_node_trust_round_trip(&factory().await).await;
    pending_chunk_checks_lists_those_of_running_jobs(&factory().await).await;
    job_reviews_record_each_step_and_correct_the_result(&factory().await).await;
}

fn pending(code: &str, expires_at: UnixMillis) -> Option<PendingClaim> {
    Some(PendingClaim {
        hash: TokenHash::of(code),
        expires_at,
    })
}

async fn user(s: &impl Store, email: &str) -> UserId {
    s.create_user(email, "$argon2id$v=19$fake", T)
        .await
        .unwrap()
        .id
}

fn new_job(owner: UserId, config_hash: &str) -> NewJob {
    NewJob {
        id: JobId::new(),
        owner,
        config_hash: config_hash.into(),
        iterations: 10_000,
        seed: u64::MAX - 7,
        chunk_size: 1000,
        chunk_count: 10,
        public: false,
        chunk_wall_limit_ms: 0,
    }
}

/// A leader's transition or convergence point raises its lock's stored fence; one written with
/// an older token than the stored one is refused and changes nothing. Locks are fenced
/// independently.
pub async fn leader_writes_are_fenced(s: &impl Store) {
    let u = user(s, "lead@x.io").await;
    s.put_config("cfg", "{}", T).await.unwrap();
    let mut jobs = Vec::new();
    for _ in 0..4 {
        let job = s.insert_job(new_job(u, "cfg"), T).await.unwrap();
        s.transition_job(
            job.id,
            JobStatus::Pending,
            JobStatus::Running,
            0,
            TransitionData::default(),
            later(1),
        )
        .await
        .unwrap();
        jobs.push(job.id);
    }
    let fenced = |lock: &str, token: u64, result: u8| TransitionData {
        result: Some(vec![result]),
        failure_reason: None,
        fence: Some(LeaderFence {
            lock: lock.into(),
            token: FenceToken(token),
        }),
    };
    let end = |job: JobId, data: TransitionData| {
        s.transition_job(
            job,
            JobStatus::Running,
            JobStatus::Completed,
            1,
            data,
            later(2),
        )
    };
    // Tokens as large as the coordinators issue (wall clock × 2^16) round-trip.
    let newer = (T.0 << 16) + 1;
    let done = end(jobs[0], fenced("projector", newer, 1)).await.unwrap();
    assert_eq!(done.result.as_deref(), Some(&[1u8][..]));
    assert_eq!(
        end(jobs[1], fenced("projector", newer - 1, 2)).await,
        Err(StoreError::StaleLeader {
            lock: "projector".into(),
            token: FenceToken(newer - 1),
        })
    );
    let untouched = s.job(jobs[1]).await.unwrap().unwrap();
    assert_eq!(
        (untouched.status, untouched.version, untouched.result),
        (JobStatus::Running, 1, None)
    );
    // The same leader writes again; another lock has its own fence.
    end(jobs[1], fenced("projector", newer, 3)).await.unwrap();
    end(jobs[2], fenced("other", 1, 4)).await.unwrap();
    // The refusal left the stored fence at the newer token.
    assert!(matches!(
        end(jobs[3], fenced("projector", newer - 1, 5)).await,
        Err(StoreError::StaleLeader { .. })
    ));
    assert_eq!(
        s.job(jobs[3]).await.unwrap().unwrap().status,
        JobStatus::Running
    );
    let point = ConvergencePoint {
        iterations: 10,
        mean: 1.5,
        ci95: 0.25,
    };
    let fence = |token| LeaderFence {
        lock: "projector".into(),
        token: FenceToken(token),
    };
    assert!(matches!(
        s.add_convergence_point(jobs[3], point, Some(&fence(newer - 1)))
            .await,
        Err(StoreError::StaleLeader { .. })
    ));
    assert_eq!(s.convergence(jobs[3]).await.unwrap(), vec![]);
    s.add_convergence_point(jobs[3], point, Some(&fence(newer + 1)))
        .await
        .unwrap();
    assert_eq!(s.convergence(jobs[3]).await.unwrap(), vec![point]);
    // The point raised the fence: the previous token's ending is refused now.
    assert!(matches!(
        end(jobs[3], fenced("projector", newer, 6)).await,
        Err(StoreError::StaleLeader { .. })
    ));
}

/// The first account is admin, later ones are not; a taken email is a conflict.
pub async fn first_user_is_admin_and_emails_are_unique(s: &impl Store) {
    let a = s.create_user("a@x.io", "hash-a", T).await.unwrap();
    let b = s.create_user("b@x.io", "hash-b", later(1)).await.unwrap();
    assert!(a.is_admin);
    assert!(!b.is_admin);
    assert_eq!(a.password_hash, "hash-a");
    assert_eq!(a.created_at, T);
    assert!(matches!(
        s.create_user("a@x.io", "other", T).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.user_by_id(b.id).await.unwrap(), Some(b.clone()));
    assert_eq!(s.user_by_email("a@x.io").await.unwrap(), Some(a));
    assert_eq!(s.user_by_email("nobody@x.io").await.unwrap(), None);
    assert_eq!(s.user_by_id(UserId::new()).await.unwrap(), None);
}

/// When `u`'s first API token was last used.
async fn api_last_used(s: &impl Store, u: UserId) -> Option<UnixMillis> {
    s.list_auth_tokens(u, AuthTokenKind::Api).await.unwrap()[0].last_used_at
}

/// Tokens resolve by hash and kind until they expire or are deleted by their owner.
pub async fn auth_tokens_by_hash_kind_and_expiry(s: &impl Store) {
    let u = user(s, "u@x").await;
    let other = user(s, "o@x").await;
    let session = TokenHash::of("session-secret");
    let api = TokenHash::of("api-secret");
    s.insert_auth_token(
        NewAuthToken {
            hash: session.clone(),
            user: u,
            kind: AuthTokenKind::Session,
            name: String::new(),
            expires_at: Some(later(1000)),
        },
        T,
    )
    .await
    .unwrap();
    s.insert_auth_token(
        NewAuthToken {
            hash: api.clone(),
            user: u,
            kind: AuthTokenKind::Api,
            name: "laptop".into(),
            expires_at: None,
        },
        later(1),
    )
    .await
    .unwrap();
    let found = s
        .user_by_auth_token(&session, AuthTokenKind::Session, later(999))
        .await
        .unwrap();
    assert_eq!(found.map(|f| f.id), Some(u));
    assert_eq!(
        s.user_by_auth_token(&session, AuthTokenKind::Session, later(1000))
            .await
            .unwrap(),
        None,
        "expired session"
    );
    assert_eq!(
        s.user_by_auth_token(&session, AuthTokenKind::Api, T)
            .await
            .unwrap(),
        None,
        "a session is not an API token"
    );
    assert!(s
        .user_by_auth_token(&api, AuthTokenKind::Api, later(10_000_000))
        .await
        .unwrap()
        .is_some());
    let listed = s.list_auth_tokens(u, AuthTokenKind::Api).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "laptop");
    assert_eq!(listed[0].hash, api.as_str());
    assert_eq!(listed[0].last_used_at, None, "never used yet");
    // Last use: recorded, then kept within the granularity, then moved on after it.
    let minute = crate::store::TOKEN_USE_GRANULARITY.as_millis() as u64;
    s.touch_auth_token(&api, later(10)).await.unwrap();
    assert_eq!(api_last_used(s, u).await, Some(later(10)));
    s.touch_auth_token(&api, later(10 + minute - 1))
        .await
        .unwrap();
    assert_eq!(
        api_last_used(s, u).await,
        Some(later(10)),
        "coalesced within a minute"
    );
    s.touch_auth_token(&api, later(10 + minute)).await.unwrap();
    assert_eq!(api_last_used(s, u).await, Some(later(10 + minute)));
    assert!(!s.delete_auth_token(other, &api).await.unwrap());
    assert!(s.delete_auth_token(u, &api).await.unwrap());
    assert_eq!(
        s.user_by_auth_token(&api, AuthTokenKind::Api, T)
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        s.insert_auth_token(
            NewAuthToken {
                hash: TokenHash::of("x"),
                user: UserId::new(),
                kind: AuthTokenKind::Api,
                name: String::new(),
                expires_at: None,
            },
            T,
        )
        .await,
        Err(StoreError::MissingReference(_))
    ));
}

/// Claim tokens resolve to their user until revoked by that user or expired; listed newest
/// first with their state.
pub async fn claim_tokens_until_revoked(s: &impl Store) {
    let u = user(s, "u@x").await;
    let other = user(s, "o@x").await;
    let h = TokenHash::of("ct_secret");
    s.insert_claim_token(u, &h, T, Some(later(1000)))
        .await
        .unwrap();
    assert_eq!(
        s.check_claim_token(&h, T).await.unwrap(),
        ClaimTokenCheck::Valid(u)
    );
    assert_eq!(
        s.check_claim_token(&h, later(1000)).await.unwrap(),
        ClaimTokenCheck::Expired
    );
    assert_eq!(
        s.check_claim_token(&TokenHash::of("ct_other"), T)
            .await
            .unwrap(),
        ClaimTokenCheck::Unknown
    );
    let forever = TokenHash::of("ct_forever");
    s.insert_claim_token(u, &forever, later(5), None)
        .await
        .unwrap();
    assert_eq!(
        s.check_claim_token(&forever, later(10_000_000))
            .await
            .unwrap(),
        ClaimTokenCheck::Valid(u)
    );
    assert!(!s.revoke_claim_token(other, &h, T).await.unwrap());
    assert!(s.revoke_claim_token(u, &h, later(7)).await.unwrap());
    assert!(!s.revoke_claim_token(u, &h, T).await.unwrap());
    assert_eq!(
        s.check_claim_token(&h, T).await.unwrap(),
        ClaimTokenCheck::Revoked
    );
    let listed = s.list_claim_tokens(u).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].hash, forever.as_str());
    assert_eq!(listed[0].expires_at, None);
    assert_eq!(listed[0].revoked_at, None);
    assert_eq!(listed[1].hash, h.as_str());
    assert_eq!(listed[1].expires_at, Some(later(1000)));
    assert_eq!(listed[1].revoked_at, Some(later(7)));
    assert_eq!(
        (listed[0].name.as_str(), listed[0].last_used_at),
        ("", None)
    );
    // Named by its owner only; a registration with it is its last use.
    assert!(!s.name_claim_token(other, &forever, "theirs").await.unwrap());
    assert!(s.name_claim_token(u, &forever, "rack 2").await.unwrap());
    s.touch_claim_token(&forever, later(20)).await.unwrap();
    let listed = s.list_claim_tokens(u).await.unwrap();
    assert_eq!(listed[0].name, "rack 2");
    assert_eq!(listed[0].last_used_at, Some(later(20)));
    assert!(s.list_claim_tokens(other).await.unwrap().is_empty());
}

/// Registration, claim by code, owner settings, presence flips and unlinking.
pub async fn nodes_register_claim_and_manage(s: &impl Store) {
    let u = user(s, "u@x").await;
    let stranger = user(s, "s@x").await;
    let owned = s
        .insert_node(
            NewNode {
                id: NodeId::new(),
                owner: Some(u),
                public_key: "key-owned".into(),
                name: "rig".into(),
                claim_code: None,
                max_parallel: 8,
                cores: 8,
                version: "0.1.0".into(),
            },
            T,
        )
        .await
        .unwrap();
    assert_eq!(owned.status, NodeStatus::Pending);
    assert_eq!(owned.owner, Some(u));
    assert!(!owned.draining);
    let unowned = s
        .insert_node(
            NewNode {
                id: NodeId::new(),
                owner: None,
                public_key: "key-free".into(),
                name: "box".into(),
                claim_code: pending("ABCD-1234", later(3_600_000)),
                max_parallel: 2,
                cores: 4,
                version: "0.1.0".into(),
            },
            later(1),
        )
        .await
        .unwrap();
    // The same public key cannot register twice (and cannot be moved to another owner).
    let mut dup = NewNode {
        id: NodeId::new(),
        owner: Some(stranger),
        public_key: "key-owned".into(),
        name: "x".into(),
        claim_code: None,
        max_parallel: 1,
        cores: 1,
        version: String::new(),
    };
    assert!(matches!(
        s.insert_node(dup.clone(), T).await,
        Err(StoreError::Conflict(_))
    ));
    dup.public_key = "key-3".into();
    dup.claim_code = pending("ABCD-1234", later(50));
    assert!(matches!(
        s.insert_node(dup, T).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.node_by_public_key("key-free")
            .await
            .unwrap()
            .map(|n| n.id),
        Some(unowned.id)
    );
    assert_eq!(s.node_by_id(owned.id).await.unwrap(), Some(owned.clone()));

    // Stored hashed: the code itself is nowhere in the row.
    let stored = s.node_by_id(unowned.id).await.unwrap().unwrap();
    assert_eq!(stored.claim_code, pending("ABCD-1234", later(3_600_000)));
    let code = TokenHash::of("ABCD-1234");
    assert_eq!(
        s.claim_node(&TokenHash::of("WRONG"), u, T).await.unwrap(),
        None
    );
    // An expired code claims nothing.
    assert_eq!(
        s.claim_node(&code, u, later(3_600_000)).await.unwrap(),
        None
    );
    // A renewed code replaces the old one.
    assert!(s
        .renew_claim_code(unowned.id, &pending("WXYZ-5678", later(7_200_000)).unwrap())
        .await
        .unwrap());
    assert_eq!(s.claim_node(&code, u, T).await.unwrap(), None);
    let code = TokenHash::of("WXYZ-5678");
    let claimed = s
        .claim_node(&code, u, later(3_600_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.owner, Some(u));
    assert_eq!(claimed.claim_code, None);
    assert_eq!(s.claim_node(&code, stranger, T).await.unwrap(), None);
    // An owned node's code is not renewed.
    assert!(!s
        .renew_claim_code(unowned.id, &pending("QQQQ-2222", later(9)).unwrap())
        .await
        .unwrap());
    let mine: Vec<NodeId> = s
        .list_nodes(Some(u))
        .await
        .unwrap()
        .iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(mine, [owned.id, unowned.id]);
    assert!(s.list_nodes(Some(stranger)).await.unwrap().is_empty());
    assert_eq!(s.list_nodes(None).await.unwrap().len(), 2);

    let change = NodeSettings {
        name: Some("renamed".into()),
        max_parallel: Some(3),
        draining: Some(true),
    };
    assert_eq!(
        s.update_node_settings(owned.id, stranger, change.clone())
            .await
            .unwrap(),
        None
    );
    let updated = s
        .update_node_settings(owned.id, u, change)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            updated.name.as_str(),
            updated.max_parallel,
            updated.draining
        ),
        ("renamed", 3, true)
    );
    let partial = s
        .update_node_settings(
            owned.id,
            u,
            NodeSettings {
                draining: Some(false),
                ..NodeSettings::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            partial.name.as_str(),
            partial.max_parallel,
            partial.draining
        ),
        ("renamed", 3, false)
    );
    assert!(matches!(
        s.update_node_settings(
            owned.id,
            u,
            NodeSettings {
                max_parallel: Some(0),
                ..NodeSettings::default()
            }
        )
        .await,
        Err(StoreError::Invalid(_))
    ));

    assert!(s
        .record_node_seen(owned.id, later(50), "0.2.0", 16, None, &NodeLoad::default())
        .await
        .unwrap());
    assert!(s
        .record_node_seen(owned.id, later(40), "0.2.0", 16, None, &NodeLoad::default())
        .await
        .unwrap());
    let seen = s.node_by_id(owned.id).await.unwrap().unwrap();
    assert_eq!(
        (seen.last_seen_at, seen.version.as_str(), seen.cores),
        (Some(later(50)), "0.2.0", 16)
    );
    assert!(!s
        .record_node_seen(NodeId::new(), T, "", 1, None, &NodeLoad::default())
        .await
        .unwrap());
    assert!(s
        .set_node_status(owned.id, NodeStatus::Online)
        .await
        .unwrap());
    assert!(!s
        .set_node_status(owned.id, NodeStatus::Online)
        .await
        .unwrap());
    assert!(s
        .set_node_status(owned.id, NodeStatus::Offline)
        .await
        .unwrap());

    // A node that computed chunks can still be unlinked.
    s.put_config("h", "p", T).await.unwrap();
    let job = s.insert_job(new_job(u, "h"), T).await.unwrap();
    s.put_chunk_result(
        ChunkResult {
            job: job.id,
            chunk: ChunkIndex(0),
            node: Some(owned.id),
            result: vec![1],
        },
        T,
    )
    .await
    .unwrap();
    assert!(!s.delete_node(owned.id, stranger).await.unwrap());
    assert!(s.delete_node(owned.id, u).await.unwrap());
    assert_eq!(s.node_by_id(owned.id).await.unwrap(), None);
    assert!(s.unlink_node(unowned.id).await.unwrap());
    assert!(!s.unlink_node(unowned.id).await.unwrap());
    assert!(s.list_nodes(None).await.unwrap().is_empty());
    assert_eq!(
        s.chunk_results(job.id).await.unwrap()[0].node,
        Some(owned.id)
    );
}

/// A heartbeat stores its work figures with the node; a late (older) heartbeat changes nothing;
/// untrusted rates are sanitized; cores in use and sims/s count only while online.
pub async fn node_load_follows_the_latest_heartbeat(s: &impl Store) {
    let u = user(s, "load@example.org").await;
    let n = s
        .insert_node(
            NewNode {
                id: NodeId::new(),
                owner: Some(u),
                public_key: "load-key".into(),
                name: "busy".into(),
                claim_code: None,
                max_parallel: 4,
                cores: 4,
                version: "0.1.0".into(),
            },
            T,
        )
        .await
        .unwrap();
    assert_eq!(n.load, NodeLoad::default());
    assert_eq!((n.cores_in_use(), n.sims_per_sec()), (0, 0.0));

    // An older node: it reports the leases it holds, not what it computes.
    let busy = NodeLoad {
        active_chunks: 6,
        running_chunks: None,
        free_slots: 0,
        sims_per_sec: 12_345.5,
        load1: 3.25,
        mem_used_bytes: 3 << 30,
        mem_total_bytes: 8 << 30,
    };
    assert!(s
        .record_node_seen(n.id, later(100), "0.1.0", 4, None, &busy)
        .await
        .unwrap());
    // Older than the last one: ignored, but the node exists.
    assert!(s
        .record_node_seen(n.id, later(90), "0.1.0", 4, None, &NodeLoad::default())
        .await
        .unwrap());
    let seen = s.node_by_id(n.id).await.unwrap().unwrap();
    assert_eq!((seen.load, seen.last_seen_at), (busy, Some(later(100))));
    // Not online yet: its report is not counted as current work.
    assert_eq!((seen.cores_in_use(), seen.sims_per_sec()), (0, 0.0));
    assert!(s.set_node_status(n.id, NodeStatus::Online).await.unwrap());
    let online = s.node_by_id(n.id).await.unwrap().unwrap();
    // Six leases held on four cores, running unknown: four cores in use.
    assert_eq!(
        (online.cores_in_use(), online.sims_per_sec()),
        (4, 12_345.5)
    );
    let listed = s.list_nodes(Some(u)).await.unwrap();
    assert_eq!(listed[0].load, busy);

    let garbage = NodeLoad {
        active_chunks: 1,
        running_chunks: None,
        free_slots: 3,
        sims_per_sec: f64::NAN,
        load1: -1.0,
        mem_used_bytes: u64::MAX,
        mem_total_bytes: u64::MAX,
    };
    assert!(s
        .record_node_seen(n.id, later(200), "0.1.0", 4, None, &garbage)
        .await
        .unwrap());
    let after = s.node_by_id(n.id).await.unwrap().unwrap();
    assert_eq!(
        after.load,
        NodeLoad {
            active_chunks: 1,
            running_chunks: None,
            free_slots: 3,
            sims_per_sec: 0.0,
            load1: 0.0,
            mem_used_bytes: i64::MAX as u64,
            mem_total_bytes: i64::MAX as u64,
        }
    );
    assert_eq!(after.cores_in_use(), 1);
    assert!(!s
        .record_node_seen(NodeId::new(), later(300), "", 1, None, &busy)
        .await
        .unwrap());
}

/// A node's own cap (registration facts and every heartbeat) is stored with it; its capacity
/// is the owner's setting within that cap; cores in use count the chunks it computes, not the
/// leases it queues.
pub async fn node_capacity_and_running_follow_its_reports(s: &impl Store) {
    let u = user(s, "cap@example.org").await;
    let n = s
        .insert_node(
            NewNode {
                id: NodeId::new(),
                owner: Some(u),
                public_key: "cap-key".into(),
                name: "capped".into(),
                claim_code: None,
                max_parallel: 2,
                cores: 2,
                version: "0.1.0".into(),
            },
            T,
        )
        .await
        .unwrap();
    // Not reported yet (or an older node): the owner's setting alone.
    assert_eq!((n.local_max_parallel, n.capacity()), (None, 2));

    // Registered with `--max-parallel 1` on 2 cores.
    let reg = s
        .update_node_facts(n.id, "0.2.0", 2, Some(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (reg.version.as_str(), reg.local_max_parallel, reg.capacity()),
        ("0.2.0", Some(1), 1)
    );
    assert_eq!(
        (reg.name.as_str(), reg.owner, reg.max_parallel),
        ("capped", Some(u), 2)
    );
    assert_eq!(
        s.update_node_facts(NodeId::new(), "0.2.0", 2, Some(1))
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        s.update_node_facts(n.id, "0.2.0", 2, Some(0)).await,
        Err(StoreError::Invalid(_))
    ));

    // A heartbeat: one chunk computing, two queued behind it.
    let queued = NodeLoad {
        active_chunks: 3,
        running_chunks: Some(1),
        free_slots: 0,
        ..NodeLoad::default()
    };
    assert!(s
        .record_node_seen(n.id, later(10), "0.2.0", 2, Some(1), &queued)
        .await
        .unwrap());
    assert!(s.set_node_status(n.id, NodeStatus::Online).await.unwrap());
    let seen = s.node_by_id(n.id).await.unwrap().unwrap();
    assert_eq!(seen.load, queued);
    assert_eq!(
        (
            seen.cores_in_use(),
            seen.local_max_parallel,
            seen.capacity()
        ),
        (1, Some(1), 1)
    );
    assert_eq!(s.list_nodes(Some(u)).await.unwrap()[0].capacity(), 1);

    // Restarted with a higher cap: the owner's setting of 2 is the limit again, and a lower
    // owner setting wins over the node's cap.
    assert!(s
        .record_node_seen(n.id, later(20), "0.2.0", 2, Some(4), &queued)
        .await
        .unwrap());
    let raised = s.node_by_id(n.id).await.unwrap().unwrap();
    assert_eq!((raised.local_max_parallel, raised.capacity()), (Some(4), 2));
    let lowered = s
        .update_node_settings(
            n.id,
            u,
            NodeSettings {
                max_parallel: Some(1),
                ..NodeSettings::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lowered.capacity(), 1);
    // Replaced by an older node binary: the cap is no longer reported.
    assert!(s
        .record_node_seen(n.id, later(30), "0.1.0", 2, None, &queued)
        .await
        .unwrap());
    assert_eq!(
        s.node_by_id(n.id)
            .await
            .unwrap()
            .unwrap()
            .local_max_parallel,
        None
    );
    assert!(matches!(
        s.record_node_seen(n.id, later(40), "0.2.0", 2, Some(0), &queued)
            .await,
        Err(StoreError::Invalid(_))
    ));
    // Running reported beyond the cores (untrusted): at most the cores are in use.
    let wild = NodeLoad {
        active_chunks: 1,
        running_chunks: Some(9),
        ..NodeLoad::default()
    };
    assert!(s
        .record_node_seen(n.id, later(50), "0.2.0", 2, Some(1), &wild)
        .await
        .unwrap());
    assert_eq!(s.node_by_id(n.id).await.unwrap().unwrap().cores_in_use(), 2);
}

/// A profile is stored once per content hash.
pub async fn configs_dedup_by_hash(s: &impl Store) {
    s.put_config("abc", "profile text", T).await.unwrap();
    s.put_config("abc", "profile text", later(5)).await.unwrap();
    assert_eq!(
        s.config("abc").await.unwrap().as_deref(),
        Some("profile text")
    );
    assert_eq!(s.config("nope").await.unwrap(), None);
}

/// Only the owner flips `public`; the status and version stay as they were.
pub async fn job_visibility_is_set_by_the_owner_only(s: &impl Store) {
    let owner = user(s, "owner@x").await;
    let other = user(s, "other@x").await;
    s.put_config("cfg", "profile", T).await.unwrap();
    let job = s.insert_job(new_job(owner, "cfg"), T).await.unwrap();
    assert!(!job.public);
    assert_eq!(s.set_job_public(job.id, other, true).await.unwrap(), None);
    assert!(!s.job(job.id).await.unwrap().unwrap().public);
    assert_eq!(
        s.set_job_public(JobId::new(), owner, true).await.unwrap(),
        None
    );
    let public = s
        .set_job_public(job.id, owner, true)
        .await
        .unwrap()
        .unwrap();
    assert!(public.public);
    assert_eq!((public.status, public.version), (job.status, job.version));
    assert!(s.job(job.id).await.unwrap().unwrap().public);
    let private = s
        .set_job_public(job.id, owner, false)
        .await
        .unwrap()
        .unwrap();
    assert!(!private.public);
}

/// A job's name is set and replaced by its owner only; a finished job is deleted by its owner
/// only, with its name and chunk results; an unfinished one is never deleted.
pub async fn job_names_and_deletion_are_the_owners(s: &impl Store) {
    let owner = user(s, "o@x").await;
    let other = user(s, "p@x").await;
    s.put_config("cfg", "profile", T).await.unwrap();
    let job = s.insert_job(new_job(owner, "cfg"), T).await.unwrap();
    let second = s.insert_job(new_job(owner, "cfg"), T).await.unwrap();
    let theirs = s.insert_job(new_job(other, "cfg"), T).await.unwrap();
    assert_eq!(s.job_name(job.id).await.unwrap(), None);
    assert!(!s.set_job_name(job.id, other, "mine now").await.unwrap());
    assert!(!s
        .set_job_name(JobId::new(), owner, "nothing")
        .await
        .unwrap());
    assert_eq!(s.job_name(job.id).await.unwrap(), None);
    assert!(s.set_job_name(job.id, owner, "Fire mage").await.unwrap());
    assert!(s
        .set_job_name(job.id, owner, "Fire mage — 2 set")
        .await
        .unwrap());
    assert_eq!(
        s.job_name(job.id).await.unwrap().as_deref(),
        Some("Fire mage — 2 set")
    );
    assert!(s.set_job_name(theirs.id, other, "theirs").await.unwrap());
    assert_eq!(
        s.job_names(owner).await.unwrap(),
        vec![(job.id, "Fire mage — 2 set".to_owned())]
    );

    // Pending: never deleted, whoever asks.
    assert!(!s.delete_finished_job(job.id, owner).await.unwrap());
    let running = s
        .transition_job(
            job.id,
            JobStatus::Pending,
            JobStatus::Running,
            0,
            TransitionData::default(),
            T,
        )
        .await
        .unwrap();
    s.put_chunk_result(
        ChunkResult {
            job: job.id,
            chunk: ChunkIndex(0),
            node: None,
            result: vec![1, 2, 3],
        },
        T,
    )
    .await
    .unwrap();
    assert!(!s.delete_finished_job(job.id, owner).await.unwrap());
    s.transition_job(
        job.id,
        JobStatus::Running,
        JobStatus::Cancelled,
        running.version,
        TransitionData::default(),
        T,
    )
    .await
    .unwrap();
    assert!(!s.delete_finished_job(job.id, other).await.unwrap());
    assert!(s.job(job.id).await.unwrap().is_some());
    assert!(s.delete_finished_job(job.id, owner).await.unwrap());
    assert_eq!(s.job(job.id).await.unwrap(), None);
    assert_eq!(s.job_name(job.id).await.unwrap(), None);
    assert!(s.chunk_results(job.id).await.unwrap().is_empty());
    assert!(s.job_names(owner).await.unwrap().is_empty());
    assert!(!s.delete_finished_job(job.id, owner).await.unwrap());
    // The others are untouched.
    assert!(s.job(second.id).await.unwrap().is_some());
    assert_eq!(
        s.job_name(theirs.id).await.unwrap().as_deref(),
        Some("theirs")
    );
}

/// A job's convergence points are kept once per iteration count, in order, and its
/// contributing nodes are read from its stored results; both go with the job.
pub async fn convergence_and_contributors_are_stored(s: &impl Store) {
    let owner = user(s, "o@x").await;
    s.put_config("cfg", "profile", T).await.unwrap();
    let job = s.insert_job(new_job(owner, "cfg"), T).await.unwrap();
    let other = s.insert_job(new_job(owner, "cfg"), T).await.unwrap();
    assert!(s.convergence(job.id).await.unwrap().is_empty());
    let at = |iterations, mean, ci95| ConvergencePoint {
        iterations,
        mean,
        ci95,
    };
    for p in [
        at(2000, 17_300.5, 40.25),
        at(1000, 17_250.0, 80.5),
        at(1000, 1.0, 1.0),
    ] {
        s.add_convergence_point(job.id, p, None).await.unwrap();
    }
    s.add_convergence_point(other.id, at(5, 1.0, 0.0), None)
        .await
        .unwrap();
    assert_eq!(
        s.convergence(job.id).await.unwrap(),
        vec![at(1000, 17_250.0, 80.5), at(2000, 17_300.5, 40.25)]
    );
    assert!(matches!(
        s.add_convergence_point(JobId::new(), at(1, 1.0, 1.0), None)
            .await,
        Err(StoreError::MissingReference(_))
    ));

    let (a, b) = (NodeId::new(), NodeId::new());
    for (chunk, node) in [(0, Some(a)), (1, Some(b)), (2, Some(a)), (3, None)] {
        s.put_chunk_result(
            ChunkResult {
                job: job.id,
                chunk: ChunkIndex(chunk),
                node,
                result: vec![chunk as u8],
            },
            T,
        )
        .await
        .unwrap();
    }
    let mut expected = vec![(a, 2), (b, 1)];
    expected.sort_by_key(|(n, _)| n.to_string());
    assert_eq!(s.job_nodes(job.id).await.unwrap(), expected);
    assert!(s.job_nodes(other.id).await.unwrap().is_empty());

    let running = s
        .transition_job(
            job.id,
            JobStatus::Pending,
            JobStatus::Running,
            0,
            TransitionData::default(),
            T,
        )
        .await
        .unwrap();
    s.transition_job(
        job.id,
        JobStatus::Running,
        JobStatus::Cancelled,
        running.version,
        TransitionData::default(),
        T,
    )
    .await
    .unwrap();
    assert!(s.delete_finished_job(job.id, owner).await.unwrap());
    assert!(s.convergence(job.id).await.unwrap().is_empty());
    assert!(s.job_nodes(job.id).await.unwrap().is_empty());
    assert_eq!(s.convergence(other.id).await.unwrap().len(), 1);
}

/// Status moves only along the lifecycle and only from the expected version.
pub async fn job_transitions_are_version_checked(s: &impl Store) {
    let u = user(s, "u@x").await;
    assert!(matches!(
        s.insert_job(new_job(u, "missing"), T).await,
        Err(StoreError::MissingReference(_))
    ));
    s.put_config("cfg", "profile", T).await.unwrap();
    let mut bad = new_job(u, "cfg");
    bad.chunk_count = 0;
    assert!(matches!(
        s.insert_job(bad, T).await,
        Err(StoreError::Invalid(_))
    ));
    let mut huge = new_job(u, "cfg");
    huge.iterations = u64::MAX;
    assert!(matches!(
        s.insert_job(huge, T).await,
        Err(StoreError::Invalid(_))
    ));

    let new = new_job(u, "cfg");
    let job = s.insert_job(new.clone(), T).await.unwrap();
    assert_eq!((job.status, job.version), (JobStatus::Pending, 0));
    assert_eq!(job.seed, new.seed, "u64 seed round-trips");
    assert_eq!(
        (job.iterations, job.chunk_size, job.chunk_count),
        (10_000, 1000, 10)
    );
    assert_eq!(job.started_at, None);

    let running = s
        .transition_job(
            job.id,
            JobStatus::Pending,
            JobStatus::Running,
            0,
            TransitionData::default(),
            later(1),
        )
        .await
        .unwrap();
    assert_eq!(
        (running.status, running.version, running.started_at),
        (JobStatus::Running, 1, Some(later(1)))
    );
    // A writer holding the old version loses.
    assert_eq!(
        s.transition_job(
            job.id,
            JobStatus::Pending,
            JobStatus::Cancelled,
            0,
            TransitionData::default(),
            later(2)
        )
        .await,
        Err(StoreError::VersionConflict {
            status: JobStatus::Running,
            version: 1
        })
    );
    assert_eq!(
        s.transition_job(
            job.id,
            JobStatus::Running,
            JobStatus::Completed,
            0,
            TransitionData::default(),
            later(2)
        )
        .await,
        Err(StoreError::VersionConflict {
            status: JobStatus::Running,
            version: 1
        })
    );
    assert_eq!(
        s.transition_job(
            job.id,
            JobStatus::Running,
            JobStatus::Pending,
            1,
            TransitionData::default(),
            later(2)
        )
        .await,
        Err(StoreError::InvalidTransition {
            from: JobStatus::Running,
            to: JobStatus::Pending
        })
    );
    assert_eq!(
        s.transition_job(
            JobId::new(),
            JobStatus::Running,
            JobStatus::Failed,
            1,
            TransitionData::default(),
            later(2)
        )
        .await,
        Err(StoreError::NotFound)
    );
    let done = s
        .transition_job(
            job.id,
            JobStatus::Running,
            JobStatus::Completed,
            1,
            TransitionData {
                result: Some(vec![9, 8, 7]),
                failure_reason: None,
                fence: None,
            },
            later(3),
        )
        .await
        .unwrap();
    assert_eq!((done.status, done.version), (JobStatus::Completed, 2));
    assert_eq!(done.result.as_deref(), Some(&[9u8, 8, 7][..]));
    assert_eq!(
        (done.started_at, done.finished_at),
        (Some(later(1)), Some(later(3)))
    );
    assert!(matches!(
        s.transition_job(
            job.id,
            JobStatus::Completed,
            JobStatus::Failed,
            2,
            TransitionData::default(),
            later(4)
        )
        .await,
        Err(StoreError::InvalidTransition { .. })
    ));

    let failing = s.insert_job(new_job(u, "cfg"), later(10)).await.unwrap();
    s.transition_job(
        failing.id,
        JobStatus::Pending,
        JobStatus::Running,
        0,
        TransitionData::default(),
        later(11),
    )
    .await
    .unwrap();
    let failed = s
        .transition_job(
            failing.id,
            JobStatus::Running,
            JobStatus::Failed,
            1,
            TransitionData {
                result: None,
                failure_reason: Some("chunk 3 failed 3 times".into()),
                fence: None,
            },
            later(12),
        )
        .await
        .unwrap();
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some("chunk 3 failed 3 times")
    );
    let listed: Vec<JobId> = s
        .list_jobs(u, 10)
        .await
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(listed, [failing.id, job.id], "newest first");
    assert_eq!(s.list_jobs(u, 1).await.unwrap().len(), 1);
    assert_eq!(
        s.jobs_with_status(JobStatus::Failed).await.unwrap()[0].id,
        failing.id
    );
    assert!(s
        .jobs_with_status(JobStatus::Running)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.job(job.id).await.unwrap(), Some(done));
}

/// Two writers racing from the same version: exactly one transition happens.
pub async fn concurrent_transitions_have_one_winner<S: Store>(s: Arc<S>) {
    let u = user(&*s, "u@x").await;
    s.put_config("cfg", "p", T).await.unwrap();
    let job = s.insert_job(new_job(u, "cfg"), T).await.unwrap();
    s.transition_job(
        job.id,
        JobStatus::Pending,
        JobStatus::Running,
        0,
        TransitionData::default(),
        T,
    )
    .await
    .unwrap();
    let racers: Vec<_> = [
        JobStatus::Completed,
        JobStatus::Cancelled,
        JobStatus::Failed,
    ]
    .into_iter()
    .map(|to| {
        let s = s.clone();
        tokio::spawn(async move {
            s.transition_job(
                job.id,
                JobStatus::Running,
                to,
                1,
                TransitionData::default(),
                T,
            )
            .await
        })
    })
    .collect();
    let mut wins = 0;
    for r in racers {
        match r.await.unwrap() {
            Ok(j) => {
                wins += 1;
                assert_eq!(j.version, 2);
            }
            Err(StoreError::VersionConflict { version, .. }) => assert_eq!(version, 2),
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(wins, 1);
}

/// A second result for a chunk is a no-op; a bad row does not fail its batch neighbours.
/// A leader's batch of chunk results is stored in one transaction (duplicates are no-ops)
/// and refused as a whole once a newer token raised the fence, also by the fence alone (a new
/// leader's first step); a presence leader's status flips are fenced the same way.
pub async fn leader_result_batches_and_statuses_are_fenced(s: &impl Store) {
    let u = user(s, "batch@x.io").await;
    s.put_config("cfg", "{}", T).await.unwrap();
    let job = s.insert_job(new_job(u, "cfg"), T).await.unwrap().id;
    let fence = |lock: &str, token: u64| LeaderFence {
        lock: lock.into(),
        token: FenceToken(token),
    };
    let r = |chunk: u32, byte: u8| ChunkResult {
        job,
        chunk: ChunkIndex(chunk),
        node: None,
        result: vec![byte; 2],
    };
    let old = (T.0 << 16) + 10;
    s.put_chunk_results(
        &[r(0, 1), r(1, 1), r(1, 2)],
        T,
        Some(&fence("projector", old)),
    )
    .await
    .unwrap();
    // An empty batch only checks and raises the fence.
    s.put_chunk_results(&[], T, Some(&fence("projector", old)))
        .await
        .unwrap();
    // A new leader raises the fence before reading: the old one's next batch is refused whole.
    s.raise_leader_fence(&fence("projector", old + 1))
        .await
        .unwrap();
    assert_eq!(
        s.put_chunk_results(&[r(2, 1), r(3, 1)], T, Some(&fence("projector", old)))
            .await,
        Err(StoreError::StaleLeader {
            lock: "projector".into(),
            token: FenceToken(old),
        })
    );
    assert!(matches!(
        s.raise_leader_fence(&fence("projector", old)).await,
        Err(StoreError::StaleLeader { .. })
    ));
    // The new leader stores them (one already there stays as it was); unfenced works too.
    s.put_chunk_results(
        &[r(0, 9), r(2, 1), r(3, 1)],
        T,
        Some(&fence("projector", old + 1)),
    )
    .await
    .unwrap();
    s.put_chunk_results(&[r(4, 1)], T, None).await.unwrap();
    let stored = s.chunk_results(job).await.unwrap();
    let idx: Vec<u32> = stored.iter().map(|c| c.chunk.0).collect();
    assert_eq!(idx, [0, 1, 2, 3, 4]);
    assert_eq!(stored[0].result, vec![1; 2], "first result kept");
    assert_eq!(
        stored[1].result,
        vec![1; 2],
        "first of a batch's twins kept"
    );
    // A batch with a result of an unknown job fails whole.
    let stray = ChunkResult {
        job: JobId::new(),
        ..r(5, 1)
    };
    assert!(s
        .put_chunk_results(&[r(5, 1), stray], T, Some(&fence("projector", old + 1)))
        .await
        .is_err());
    assert_eq!(s.done_chunks(job).await.unwrap().len(), 5);

    // Presence: a flip under the newer token wins; the deposed leader's is refused.
    let n = s
        .insert_node(
            NewNode {
                id: NodeId::new(),
                owner: Some(u),
                public_key: "fenced-node-key".into(),
                name: "n".into(),
                claim_code: None,
                max_parallel: 1,
                cores: 1,
                version: String::new(),
            },
            T,
        )
        .await
        .unwrap();
    let presence = |t| fence("presence", old + t);
    assert!(s
        .set_node_status_fenced(n.id, NodeStatus::Online, &presence(7))
        .await
        .unwrap());
    assert!(!s
        .set_node_status_fenced(n.id, NodeStatus::Online, &presence(8))
        .await
        .unwrap());
    assert_eq!(
        s.set_node_status_fenced(n.id, NodeStatus::Offline, &presence(7))
            .await,
        Err(StoreError::StaleLeader {
            lock: "presence".into(),
            token: FenceToken(old + 7),
        })
    );
    assert_eq!(
        s.node_by_id(n.id).await.unwrap().unwrap().status,
        NodeStatus::Online
    );
}

pub async fn chunk_results_are_idempotent<S: Store>(s: Arc<S>) {
    let u = user(&*s, "u@x").await;
    s.put_config("cfg", "p", T).await.unwrap();
    let job = s.insert_job(new_job(u, "cfg"), T).await.unwrap();
    let node = NodeId::new();
    let r = |chunk: u32, byte: u8| ChunkResult {
        job: job.id,
        chunk: ChunkIndex(chunk),
        node: Some(node),
        result: vec![byte; 3],
    };
    assert_eq!(
        s.put_chunk_result(r(4, 1), T).await.unwrap(),
        PutOutcome::Inserted
    );
    assert_eq!(
        s.put_chunk_result(r(4, 2), T).await.unwrap(),
        PutOutcome::Duplicate
    );
    // Concurrent writes, one of them for an unknown job.
    let mut tasks = Vec::new();
    for chunk in [0u32, 2, 4, 7, 9, 9] {
        let s = s.clone();
        let item = r(chunk, 5);
        tasks.push(tokio::spawn(
            async move { s.put_chunk_result(item, T).await },
        ));
    }
    let s2 = s.clone();
    let bad = tokio::spawn(async move {
        s2.put_chunk_result(
            ChunkResult {
                job: JobId::new(),
                chunk: ChunkIndex(0),
                node: None,
                result: vec![],
            },
            T,
        )
        .await
    });
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap().unwrap());
    }
    assert_eq!(
        outcomes[..4],
        [
            PutOutcome::Inserted,
            PutOutcome::Inserted,
            PutOutcome::Duplicate,
            PutOutcome::Inserted
        ]
    );
    // The same new chunk twice at once: exactly one of them is stored.
    let mut twins = [outcomes[4], outcomes[5]];
    twins.sort_by_key(|o| *o == PutOutcome::Duplicate);
    assert_eq!(twins, [PutOutcome::Inserted, PutOutcome::Duplicate]);
    assert!(matches!(
        bad.await.unwrap(),
        Err(StoreError::MissingReference(_))
    ));
    let stored = s.chunk_results(job.id).await.unwrap();
    let idx: Vec<u32> = stored.iter().map(|c| c.chunk.0).collect();
    assert_eq!(idx, [0, 2, 4, 7, 9]);
    assert_eq!(stored[2].result, vec![1; 3], "first result kept");
    assert_eq!(stored[0].node, Some(node));
    assert_eq!(
        s.done_chunks(job.id).await.unwrap(),
        [0, 2, 4, 7, 9].map(ChunkIndex)
    );
    assert!(s.done_chunks(JobId::new()).await.unwrap().is_empty());
}

/// Pending and running jobs count, with their iterations minus those of stored chunks.
pub async fn active_work_counts_unfinished_jobs_and_unmerged_iterations(s: &impl Store) {
    let u = user(s, "u@x").await;
    let other = user(s, "o@x").await;
    s.put_config("cfg", "p", T).await.unwrap();
    assert_eq!(s.active_work(u).await.unwrap(), ActiveWork::default());
    let pending_job = s.insert_job(new_job(u, "cfg"), T).await.unwrap();
    let running = s.insert_job(new_job(u, "cfg"), T).await.unwrap();
    let running = s
        .transition_job(
            running.id,
            JobStatus::Pending,
            JobStatus::Running,
            0,
            TransitionData::default(),
            T,
        )
        .await
        .unwrap();
    let cancelled = s.insert_job(new_job(u, "cfg"), T).await.unwrap();
    s.transition_job(
        cancelled.id,
        JobStatus::Pending,
        JobStatus::Cancelled,
        0,
        TransitionData::default(),
        T,
    )
    .await
    .unwrap();
    s.insert_job(new_job(other, "cfg"), T).await.unwrap();
    for chunk in [0, 3, 9] {
        s.put_chunk_result(
            ChunkResult {
                job: running.id,
                chunk: ChunkIndex(chunk),
                node: None,
                result: vec![1],
            },
            T,
        )
        .await
        .unwrap();
    }
    assert_eq!(
        s.active_work(u).await.unwrap(),
        ActiveWork {
            jobs: 2,
            queued_iterations: 10_000 + 7_000
        }
    );
    assert_eq!(pending_job.iterations, 10_000);
}

/// Grid-wide settings read back what was written last.
pub async fn settings_are_stored_and_replaced(s: &impl Store) {
    assert_eq!(s.setting("quota.x").await.unwrap(), None);
    s.set_setting("quota.x", 5).await.unwrap();
    s.set_setting("quota.x", i64::MAX).await.unwrap();
    s.set_setting("quota.y", -1).await.unwrap();
    assert_eq!(s.setting("quota.x").await.unwrap(), Some(i64::MAX));
    assert_eq!(s.setting("quota.y").await.unwrap(), Some(-1));
}

/// A target-error job's target is stored with it; its waves only move forward.
pub async fn job_targets_are_stored_with_the_job_and_only_move_forward(s: &impl Store) {
    let owner = user(s, "o@x").await;
    s.put_config("cfg", "profile", T).await.unwrap();
    let fixed = s.insert_job(new_job(owner, "cfg"), T).await.unwrap();
    assert_eq!(s.job_target(fixed.id).await.unwrap(), None);
    assert!(!s.advance_job_target(fixed.id, 2, 5, 1.0).await.unwrap());
    let target = JobTarget {
        target_error: 0.05,
        max_iterations: 100_000,
        waves: 1,
        scheduled_chunks: 4,
        half_width_pct: None,
    };
    let job = s
        .insert_target_job(new_job(owner, "cfg"), target, T)
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Pending);
    assert_eq!(s.job_target(job.id).await.unwrap(), Some(target));
    assert!(s.advance_job_target(job.id, 2, 12, 0.25).await.unwrap());
    assert!(!s.advance_job_target(job.id, 2, 12, 0.25).await.unwrap());
    assert!(!s.advance_job_target(job.id, 1, 4, 9.0).await.unwrap());
    let t = s.job_target(job.id).await.unwrap().unwrap();
    assert_eq!((t.waves, t.scheduled_chunks), (2, 12));
    assert_eq!(t.half_width_pct, Some(0.25));
    // No mean yet: stored as unknown.
    assert!(s
        .advance_job_target(job.id, 3, 28, f64::INFINITY)
        .await
        .unwrap());
    assert_eq!(
        s.job_target(job.id).await.unwrap().unwrap().half_width_pct,
        None
    );
    // A target never outlives a failed insert: a duplicate id stores neither.
    let dup = NewJob {
        id: job.id,
        ..new_job(owner, "cfg")
    };
    assert!(s.insert_target_job(dup, target, T).await.is_err());
    assert_eq!(s.job_target(job.id).await.unwrap().unwrap().waves, 3);
}

/// Spot checks are stored, replaced, counted by outcome and go with their job; node trust
/// counters add up.
pub async fn spot_checks_and_node_trust_round_trip(s: &impl Store) {
    use super::{CheckCounts, CheckRun, CheckVerdict, ChunkCheck, NodeTrust};
    let u = user(s, "u@x").await;
    s.put_config("cfg", "p", T).await.unwrap();
    let job = s.insert_job(new_job(u, "cfg"), T).await.unwrap();
    let (a, b, c) = (NodeId::new(), NodeId::new(), NodeId::new());
    assert_eq!(s.chunk_check(job.id, ChunkIndex(3)).await.unwrap(), None);
    let mut check = ChunkCheck {
        job: job.id,
        chunk: ChunkIndex(3),
        verdict: CheckVerdict::Pending,
        first: CheckRun {
            node: a,
            hash: "aa".into(),
        },
        first_result: vec![1, 2, 3],
        second: None,
        third: None,
        note: None,
        created_at: T,
        settled_at: None,
    };
    s.put_chunk_check(&check).await.unwrap();
    assert_eq!(
        s.chunk_check(job.id, ChunkIndex(3)).await.unwrap().as_ref(),
        Some(&check)
    );
    check.verdict = CheckVerdict::FirstWrong;
    check.second = Some(CheckRun {
        node: b,
        hash: "bb".into(),
    });
    check.third = Some(CheckRun {
        node: c,
        hash: "bb".into(),
    });
    check.settled_at = Some(later(5));
    s.put_chunk_check(&check).await.unwrap();
    assert_eq!(
        s.chunk_check(job.id, ChunkIndex(3)).await.unwrap().as_ref(),
        Some(&check)
    );
    // Several at once (a batch's skipped checks), one of them replacing an existing row.
    let mut confirmed = check.clone();
    confirmed.chunk = ChunkIndex(4);
    confirmed.verdict = CheckVerdict::Pending;
    s.put_chunk_check(&confirmed).await.unwrap();
    confirmed.verdict = CheckVerdict::Confirmed;
    let mut skipped = check.clone();
    skipped.chunk = ChunkIndex(5);
    skipped.verdict = CheckVerdict::Skipped;
    skipped.note = Some("no node of another owner".into());
    s.put_chunk_checks(&[confirmed.clone(), skipped.clone()])
        .await
        .unwrap();
    s.put_chunk_checks(&[]).await.unwrap();
    assert_eq!(
        s.chunk_check(job.id, ChunkIndex(4)).await.unwrap(),
        Some(confirmed)
    );
    assert_eq!(
        s.chunk_check(job.id, ChunkIndex(5)).await.unwrap(),
        Some(skipped)
    );
    let mut some: Vec<u32> = s
        .chunk_checks_of(job.id, &[ChunkIndex(5), ChunkIndex(3), ChunkIndex(9)])
        .await
        .unwrap()
        .iter()
        .map(|c| c.chunk.0)
        .collect();
    some.sort_unstable();
    assert_eq!(some, vec![3, 5], "only the asked chunks that have a check");
    assert!(s.chunk_checks_of(job.id, &[]).await.unwrap().is_empty());
    assert!(s
        .chunk_checks_of(JobId::new(), &[ChunkIndex(3)])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        s.job_check_counts(job.id).await.unwrap(),
        CheckCounts {
            cross_checked: 2,
            pending: 0,
            mismatches: 1,
            skipped: 1,
        }
    );
    assert!(matches!(
        s.put_chunk_check(&ChunkCheck {
            job: JobId::new(),
            ..check.clone()
        })
        .await,
        Err(StoreError::MissingReference(_))
    ));

    assert!(s.node_trust().await.unwrap().is_empty());
    let d = |checked, confirmed, failed| NodeTrust {
        checked,
        confirmed,
        failed,
        quarantined_at: None,
    };
    s.add_node_trust(a, d(1, 0, 0)).await.unwrap();
    s.add_node_trust(a, d(2, 1, 1)).await.unwrap();
    s.add_node_trust(b, d(1, 1, 0)).await.unwrap();
    let mut all = s.node_trust().await.unwrap();
    all.sort_by_key(|(n, _)| n.to_string());
    let mut want = vec![(a, d(3, 1, 1)), (b, d(1, 1, 0))];
    want.sort_by_key(|(n, _)| n.to_string());
    assert_eq!(all, want);

    // Quarantine: recorded, sets the node draining, released by clearing it.
    let owned = s
        .insert_node(
            NewNode {
                id: NodeId::new(),
                owner: Some(u),
                public_key: "quarantine-key".into(),
                name: "n".into(),
                claim_code: None,
                max_parallel: 1,
                cores: 1,
                version: "t".into(),
            },
            T,
        )
        .await
        .unwrap();
    s.set_node_quarantine(owned.id, Some(later(9)))
        .await
        .unwrap();
    s.add_node_trust(owned.id, d(1, 0, 1)).await.unwrap();
    let t = s.node_trust().await.unwrap();
    let q = t.iter().find(|(n, _)| *n == owned.id).unwrap().1;
    assert_eq!((q.failed, q.quarantined_at), (1, Some(later(9))));
    assert!(s.node_by_id(owned.id).await.unwrap().unwrap().draining);
    s.set_node_quarantine(owned.id, None).await.unwrap();
    let t = s.node_trust().await.unwrap();
    let q = t.iter().find(|(n, _)| *n == owned.id).unwrap().1;
    assert_eq!((q.failed, q.quarantined_at), (1, None));

    // A node's stored results by job status, and deleting them for recomputation.
    for chunk in [0u32, 2] {
        s.put_chunk_result(
            ChunkResult {
                job: job.id,
                chunk: ChunkIndex(chunk),
                node: Some(owned.id),
                result: vec![chunk as u8],
            },
            T,
        )
        .await
        .unwrap();
    }
    s.put_chunk_result(
        ChunkResult {
            job: job.id,
            chunk: ChunkIndex(1),
            node: Some(a),
            result: vec![1],
        },
        T,
    )
    .await
    .unwrap();
    assert_eq!(
        s.chunks_by_node(owned.id, job.status).await.unwrap(),
        vec![(job.id, ChunkIndex(0)), (job.id, ChunkIndex(2))]
    );
    assert!(s
        .chunks_by_node(owned.id, JobStatus::Completed)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        s.delete_chunk_results(job.id, &[ChunkIndex(0), ChunkIndex(2), ChunkIndex(7)])
            .await
            .unwrap(),
        2
    );
    assert_eq!(s.done_chunks(job.id).await.unwrap(), vec![ChunkIndex(1)]);
}

/// Pending spot checks are listed oldest first, only for running jobs, and leave the list
/// once settled.
pub async fn pending_chunk_checks_lists_those_of_running_jobs(s: &impl Store) {
    use super::{CheckRun, CheckVerdict, ChunkCheck};
    let u = user(s, "u@x").await;
    s.put_config("cfg", "p", T).await.unwrap();
    let running = s.insert_job(new_job(u, "cfg"), T).await.unwrap();
    s.transition_job(
        running.id,
        JobStatus::Pending,
        JobStatus::Running,
        0,
        TransitionData::default(),
        T,
    )
    .await
    .unwrap();
    let waiting = s.insert_job(new_job(u, "cfg"), T).await.unwrap();
    assert!(s.pending_chunk_checks().await.unwrap().is_empty());
    let check = |job, chunk, verdict, at| ChunkCheck {
        job,
        chunk: ChunkIndex(chunk),
        verdict,
        first: CheckRun {
            node: NodeId::new(),
            hash: "aa".into(),
        },
        first_result: vec![7],
        second: None,
        third: None,
        note: None,
        created_at: at,
        settled_at: None,
    };
    let newer = check(running.id, 1, CheckVerdict::Pending, later(2));
    let older = check(running.id, 2, CheckVerdict::Pending, later(1));
    for c in [
        &newer,
        &older,
        &check(running.id, 3, CheckVerdict::Confirmed, later(1)),
        &check(waiting.id, 1, CheckVerdict::Pending, later(1)),
    ] {
        s.put_chunk_check(c).await.unwrap();
    }
    assert_eq!(
        s.pending_chunk_checks().await.unwrap(),
        vec![older.clone(), newer.clone()]
    );
    let mut settled = older;
    settled.verdict = CheckVerdict::Skipped;
    settled.settled_at = Some(later(3));
    s.put_chunk_check(&settled).await.unwrap();
    assert_eq!(s.pending_chunk_checks().await.unwrap(), vec![newer]);
}

pub async fn job_reviews_record_each_step_and_correct_the_result(s: &impl Store) {
    use super::{ReviewChunk, ReviewClose, ReviewedChunk};
    let u = user(s, "u@x").await;
    s.put_config("cfg", "p", T).await.unwrap();
    let job = s.insert_job(new_job(u, "cfg"), T).await.unwrap();
    let job = s
        .transition_job(
            job.id,
            JobStatus::Pending,
            JobStatus::Running,
            0,
            TransitionData::default(),
            T,
        )
        .await
        .unwrap();
    let (bad, good) = (NodeId::new(), NodeId::new());
    for c in 0..3 {
        let r = ChunkResult {
            job: job.id,
            chunk: ChunkIndex(c),
            node: Some(if c == 1 { good } else { bad }),
            result: vec![c as u8],
        };
        s.put_chunk_result(r, T).await.unwrap();
    }
    let job = s
        .transition_job(
            job.id,
            JobStatus::Running,
            JobStatus::Completed,
            job.version,
            TransitionData {
                result: Some(vec![1, 2, 3]),
                ..TransitionData::default()
            },
            T,
        )
        .await
        .unwrap();
    assert!(s.job_reviews(job.id).await.unwrap().is_empty());
    let chunk = |c: u32| ReviewChunk {
        chunk: ChunkIndex(c),
        old_node: Some(bad),
        old_hash: format!("old{c}"),
        new_node: None,
        new_hash: None,
    };
    let r = s
        .open_job_review(job.id, bad, Some("oldjob".into()), &[chunk(2)], later(1))
        .await
        .unwrap();
    assert_eq!(
        (r.round, r.node, r.job_status),
        (1, bad, JobStatus::Completed)
    );
    assert!(r.is_open());
    assert_eq!(r.old_result_hash.as_deref(), Some("oldjob"));
    assert_eq!(r.chunks, vec![chunk(2)]);
    // A second quarantine while the round is open joins it; the chunk already in stays.
    let r = s
        .open_job_review(job.id, NodeId::new(), None, &[chunk(0), chunk(2)], later(2))
        .await
        .unwrap();
    assert_eq!((r.round, r.node), (1, bad));
    assert_eq!(r.chunks, vec![chunk(0), chunk(2)]);
    // Their results are gone, the others kept.
    assert_eq!(s.done_chunks(job.id).await.unwrap(), vec![ChunkIndex(1)]);
    assert_eq!(s.open_job_reviews().await.unwrap(), vec![r.clone()]);
    assert_eq!(
        s.job(job.id).await.unwrap().unwrap().status,
        JobStatus::Completed
    );
    let close = ReviewClose {
        result: Some((vec![9, 9], "newjob".into())),
        chunks: vec![
            ReviewedChunk {
                chunk: ChunkIndex(0),
                node: Some(good),
                hash: "new0".into(),
            },
            ReviewedChunk {
                chunk: ChunkIndex(2),
                node: Some(good),
                hash: "new2".into(),
            },
        ],
        note: None,
    };
    let fixed = s
        .close_job_review(job.id, 1, &close, None, later(3))
        .await
        .unwrap();
    assert_eq!(fixed.result.as_deref(), Some(&[9u8, 9][..]));
    assert_eq!(
        (fixed.status, fixed.version),
        (JobStatus::Completed, job.version + 1)
    );
    // Closed once: a replay changes nothing.
    assert_eq!(
        s.close_job_review(job.id, 1, &close, None, later(4)).await,
        Err(StoreError::NotFound)
    );
    assert!(s.open_job_reviews().await.unwrap().is_empty());
    let all = s.job_reviews(job.id).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].finished_at, Some(later(3)));
    assert_eq!(all[0].new_result_hash.as_deref(), Some("newjob"));
    assert_eq!(all[0].chunks[1].new_node, Some(good));
    assert_eq!(all[0].chunks[1].new_hash.as_deref(), Some("new2"));
    assert_eq!(all[0].chunks[1].old_hash, "old2");
    // The next quarantine opens round 2; a stale leader's correction is refused.
    let r2 = s
        .open_job_review(job.id, good, None, &[chunk(1)], later(5))
        .await
        .unwrap();
    assert_eq!(r2.round, 2);
    let fence = |t: u64| LeaderFence {
        lock: "projector".into(),
        token: FenceToken(t),
    };
    s.add_convergence_point(
        job.id,
        ConvergencePoint {
            iterations: 1,
            mean: 1.0,
            ci95: 0.0,
        },
        Some(&fence(9)),
    )
    .await
    .unwrap();
    let refused = s
        .close_job_review(
            job.id,
            2,
            &ReviewClose {
                result: Some((vec![1], "x".into())),
                chunks: vec![],
                note: None,
            },
            Some(&fence(3)),
            later(6),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::StaleLeader { .. })),
        "{refused:?}"
    );
    assert!(s.job_reviews(job.id).await.unwrap()[1].is_open());
    // Closed without a correction (the node's chunk recomputed while running, or the job
    // ended otherwise): the job's result stays.
    s.close_job_review(
        job.id,
        2,
        &ReviewClose {
            result: None,
            chunks: vec![],
            note: Some("why".into()),
        },
        None,
        later(7),
    )
    .await
    .unwrap();
    let all = s.job_reviews(job.id).await.unwrap();
    assert_eq!(all[1].note.as_deref(), Some("why"));
    assert_eq!(
        s.job(job.id).await.unwrap().unwrap().result.as_deref(),
        Some(&[9u8, 9][..])
    );
    // Recorded and deleted with the job.
    assert!(s.delete_finished_job(job.id, u).await.unwrap());
    assert!(s.job_reviews(job.id).await.unwrap().is_empty());
}
