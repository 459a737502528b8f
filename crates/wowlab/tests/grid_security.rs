//! Security properties of a real `wowlab up` process over loopback: a replayed signed request
//! gets 401, a late result on an expired lease gets 409, and a browser-style job token cannot
//! subscribe to another user's job (beacon refuses and drops the connection).

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{free_port, tempdir, Proc, BIN};
use wowlab_api::signing::NodeKey;
use wowlab_centrifuge::{Client, ClientConfig, SubscriptionConfig, SubscriptionEvent};

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

struct Up {
    _proc: Proc,
    host: String,
    url: String,
    http: reqwest::Client,
    dir: PathBuf,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Up {
    async fn start() -> Self {
        let port = free_port();
        let dir = tempdir("sec");
        let child = Command::new(BIN)
            .args(["up", "--nodes", "0", "--lease-ttl-ms", "1000", "--addr"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(&dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let up = Up {
            _proc: Proc(child),
            host: format!("127.0.0.1:{port}"),
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            dir,
        };
        let start = Instant::now();
        loop {
            if let Ok(r) = up.http.get(format!("{}/readyz", up.url)).send().await {
                if r.status() == 200 {
                    break;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "wowlab up not ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        up
    }

    /// Signs up `email` and returns an API token.
    async fn user(&self, email: &str) -> String {
        let jar = reqwest::Client::new();
        let r = jar
            .post(format!("{}/api/auth/signup", self.url))
            .json(&json!({"email": email, "password": "password123"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let cookie = r
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let t: Value = jar
            .post(format!("{}/api/tokens", self.url))
            .header("cookie", cookie)
            .json(&json!({"name": "t"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        t["token"].as_str().unwrap().to_owned()
    }

    async fn user_call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let s = resp.status().as_u16();
        (s, resp.json().await.unwrap_or(Value::Null))
    }

    fn signed(&self, key: &NodeKey, path: &str, body: &Value) -> reqwest::RequestBuilder {
        let bytes = serde_json::to_vec(body).unwrap();
        let h = key
            .sign(now_ms(), "POST", &self.host, path, &bytes)
            .unwrap();
        let mut r = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(bytes);
        for (k, v) in h.pairs() {
            r = r.header(k, v);
        }
        r
    }

    /// POSTs `body` to `path` with exactly these signature headers.
    async fn post_raw<'a>(
        &self,
        path: &str,
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let r = req.send().await.unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn submit(&self, token: &str) -> String {
        let profile = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../examples/profiles/pet-procs.toml"),
        )
        .unwrap();
        let (s, v) = self
            .user_call(
                token,
                "POST",
                "/api/jobs",
                Some(json!({"profile": profile, "iterations": 20, "seed": 1, "chunkSize": 10})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        v["id"].as_str().unwrap().to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_gets_401_late_result_gets_409_and_job_tokens_are_per_job() {
    let up = Up::start().await;
    let alice = up.user("alice@example.org").await;
    let bob = up.user("bob@example.org").await;
    let (_, claim) = up
        .user_call(&alice, "POST", "/api/claim-tokens", Some(json!({})))
        .await;
    let claim = claim["token"].as_str().unwrap().to_owned();

    // Register a node; the identical request sent again is a replay.
    let key = NodeKey::generate().unwrap();
    let reg = json!({"claim_token": claim, "name": "n",
                     "facts": {"hostname": "h", "version": "0", "cores": 1}});
    let first = up.signed(&key, "/api/node/register", &reg).build().unwrap();
    let replay = first.try_clone().unwrap();
    assert_eq!(up.http.execute(first).await.unwrap().status(), 200);
    let r = up.http.execute(replay).await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    report("the same signed registration sent twice", 401, &body);
    assert_eq!(body["error"]["code"], "replayed");

    // Lease a chunk, let the lease expire and be reclaimed, then post the result: 409.
    let alice_job = up.submit(&alice).await;
    let leases: Value = up
        .signed(&key, "/api/node/leases", &json!({"free_slots": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lease = leases["leases"][0].clone();
    assert_eq!(lease["job_id"], alice_job);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let late = json!({"job_id": lease["job_id"], "chunk": lease["chunk"], "fence": lease["fence"],
                      "result_b64": "AAAA", "elapsed_ms": 1});
    let r = up
        .signed(&key, "/api/node/chunks/complete", &late)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    report("a result for a lease that expired", 409, &body);
    assert_eq!(body["error"]["code"], "stale_lease");

    // Bob may not get a token for Alice's job...
    let (s, _) = up
        .user_call(
            &bob,
            "GET",
            &format!("/api/realtime/job-token?jobId={alice_job}"),
            None,
        )
        .await;
    assert_eq!(s, 404);
    // His own job's tokens are minted for exactly his channel.
    let bob_job = up.submit(&bob).await;
    let (s, tokens) = up
        .user_call(
            &bob,
            "GET",
            &format!("/api/realtime/job-token?jobId={bob_job}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{tokens}");
    assert_eq!(tokens["channel"], format!("jobs:{bob_job}"));
    let conn = tokens["connection"]["token"].as_str().unwrap();
    let sub = tokens["subscription"]["token"].as_str().unwrap();
    let ws = format!("ws://{}/connection/websocket", up.host);
    // Positive control: the token opens Bob's own channel.
    assert_eq!(
        subscribe(&ws, conn, sub, &format!("jobs:{bob_job}")).await,
        "subscribed"
    );
    // The same token presented for Alice's channel never gets a subscription.
    assert_ne!(
        subscribe(&ws, conn, sub, &format!("jobs:{alice_job}")).await,
        "subscribed"
    );
}

/// Subscribes on a fresh client; "subscribed", "refused" or "not subscribed" after 10 s.
async fn subscribe(ws: &str, conn: &str, token: &str, channel: &str) -> &'static str {
    let client = Client::new(ClientConfig::new(ws).token(conn));
    let sub = client
        .new_subscription(channel, SubscriptionConfig::default().token(token))
        .unwrap();
    let mut events = sub.events();
    sub.subscribe().unwrap();
    client.connect();
    let outcome = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Ok(SubscriptionEvent::Subscribed(_)) => return "subscribed",
                Ok(SubscriptionEvent::Unsubscribed { .. }) | Err(_) => return "refused",
                Ok(_) => continue,
            }
        }
    })
    .await
    .unwrap_or("not subscribed");
    client.disconnect().await;
    outcome
}

/// Prints one refusal check: what was tried and what came back.
fn report(tried: &str, status: u16, body: &Value) {
    println!(
        "tried: {tried}\n  got: {status} {}",
        body["error"]["code"].as_str().unwrap_or("")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unclaimed_forged_and_replayed_node_requests_are_refused_and_an_unclaimed_node_process_gets_no_work(
) {
    let up = Up::start().await;
    let alice = up.user("alice@example.org").await;
    let job = up.submit(&alice).await;

    // A stranger's fresh key, skipping the claim step the honest node takes.
    let stranger = NodeKey::generate().unwrap();
    let reg = json!({"name": "x", "facts": {"hostname": "h", "version": "0", "cores": 4}});
    let r = up
        .signed(&stranger, "/api/node/register", &reg)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let attempts = [
        ("/api/node/leases", json!({"free_slots": 4})),
        ("/api/node/config", json!({"config_hash": "any"})),
        (
            "/api/node/chunks/complete",
            json!({"job_id": job, "chunk": 0, "fence": 1, "result_b64": "AAAA", "elapsed_ms": 1}),
        ),
        (
            "/api/node/chunks/fail",
            json!({"job_id": job, "chunk": 0, "fence": 1, "reason": "x"}),
        ),
    ];
    for (path, body) in attempts {
        let r = up.signed(&stranger, path, &body).send().await.unwrap();
        let s = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        report(&format!("unclaimed node POST {path}"), s, &v);
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (403, Some("not_claimed")),
            "{v}"
        );
    }

    // A forged request: signed by one key, presented under another's.
    let victim = NodeKey::generate().unwrap();
    let body = json!({"free_slots": 1});
    let bytes = serde_json::to_vec(&body).unwrap();
    let real = victim
        .sign(now_ms(), "POST", &up.host, "/api/node/leases", &bytes)
        .unwrap();
    let forged = stranger
        .sign(now_ms(), "POST", &up.host, "/api/node/leases", &bytes)
        .unwrap();
    // The victim's key and timestamp with the stranger's signature.
    let mixed = real
        .pairs()
        .into_iter()
        .zip(forged.pairs())
        .map(|((k, v), (_, fv))| {
            if k == wowlab_api::signing::HEADER_SIGNATURE {
                (k, fv)
            } else {
                (k, v)
            }
        });
    let (s, v) = up.post_raw("/api/node/leases", mixed, bytes.clone()).await;
    report("signature of another key", s, &v);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("bad_signature"))
    );
    // A tampered body under a valid signature.
    let (s, v) = up
        .post_raw(
            "/api/node/leases",
            real.pairs(),
            br#"{"free_slots":64}"#.to_vec(),
        )
        .await;
    report("body changed after signing", s, &v);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("bad_signature"))
    );

    // A real `wowlab node` without a claim token registers, shows its code and gets no work.
    let dir = tempdir("unclaimed-node");
    let mut child = Command::new(BIN)
        .arg("node")
        .args([
            "--sentinel",
            &up.url,
            "--max-parallel",
            "1",
            "--name",
            "lurker",
        ])
        .arg("--data-dir")
        .arg(&dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _node = Proc(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(code) = line.trim().strip_prefix("Claim code: ") {
                let _ = tx.send(code.trim().to_owned());
            }
        }
    });
    let code = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the node shows a claim code");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, v) = up
        .user_call(&alice, "GET", &format!("/api/jobs/{job}"), None)
        .await;
    println!(
        "unclaimed node process ran 3 s next to a pending job: job {}",
        v["status"]
    );
    assert_eq!(v["status"], "running", "{v}");
    assert_eq!(
        v["progress"]["done"], 0,
        "no chunk ran on the unclaimed node: {v}"
    );
    // Claimed, the same process gets the work and the job completes.
    let (s, v) = up
        .user_call(
            &alice,
            "POST",
            "/api/nodes/claim",
            Some(json!({"code": code})),
        )
        .await;
    assert!(s == 200 || s == 201, "{v}");
    let start = Instant::now();
    loop {
        let (_, v) = up
            .user_call(&alice, "GET", &format!("/api/jobs/{job}"), None)
            .await;
        if v["status"] == "completed" {
            println!("after the claim: job completed in {:?}", start.elapsed());
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "job not completed: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_profiles_are_refused_within_a_second_while_the_sentinel_keeps_answering() {
    let up = Up::start().await;
    let alice = up.user("mallory@example.org").await;
    let head = "version = 1\n[fight]\nduration = 60\n[player]\nprimary = 1000\n\
                [[spells]]\nname = \"strike\"\ncoefficient = 1.0\n";
    let mut doubling = String::from("[variables]\nv0 = \"fight.time\"\n");
    for i in 1..=60 {
        doubling += &format!("v{i} = \"variable.v{} + variable.v{}\"\n", i - 1, i - 1);
    }
    let hostile = [
        (
            "variables doubling 60 times (2^61 nodes inlined)",
            format!("{head}{doubling}[[apl]]\nspell = \"strike\"\nif = \"variable.v60 > 0\"\n"),
        ),
        (
            "200,000 nested parentheses",
            format!(
                "{head}[[apl]]\nspell = \"strike\"\nif = \"{}1{}\"\n",
                "(".repeat(200_000),
                ")".repeat(200_000)
            ),
        ),
        (
            "an hour-long fight of 0.5 ms swings (7.2 M events an iteration)",
            "version = 1\n[fight]\nduration = 3600\n\
             [ratings]\nhaste = 0.000001\ndiminishing_returns = false\n\
             [player]\nprimary = 1000\nhaste_rating = 1000000000\n\
             auto_attack = { coefficient = 1.0, speed = 0.05 }\n\
             [[spells]]\nname = \"strike\"\ncooldown = 10\n\
             [[apl]]\nspell = \"strike\"\n"
                .to_owned(),
        ),
        (
            "a 2-hour fight (the bound is 1 hour)",
            format!(
                "{}[[apl]]\nspell = \"strike\"\n",
                head.replace("duration = 60", "duration = 7200")
            ),
        ),
        (
            "a 2 MiB profile",
            format!(
                "{head}[[apl]]\nspell = \"strike\"\n{}",
                format!("# {}\n", "x".repeat(1_000)).repeat(2_100)
            ),
        ),
    ];
    for (what, profile) in hostile {
        let http = up.http.clone();
        let url = up.url.clone();
        let token = alice.clone();
        let t = Instant::now();
        let submit = tokio::spawn(async move {
            let r = http
                .post(format!("{url}/api/jobs"))
                .bearer_auth(token)
                .json(&json!({"profile": profile, "iterations": 1000}))
                .send()
                .await
                .unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        });
        // Meanwhile the sentinel answers other requests.
        let probe = Instant::now();
        let ready = up
            .http
            .get(format!("{}/readyz", up.url))
            .send()
            .await
            .unwrap();
        let probe = probe.elapsed();
        let (s, v) = submit.await.unwrap();
        let took = t.elapsed();
        let message = v["error"]["fields"]["profile"]
            .as_str()
            .or(v["error"]["message"].as_str())
            .unwrap_or_default()
            .to_owned();
        println!(
            "tried: {what}\n  got: {s} in {took:?} ({message}); /readyz answered {} in {probe:?}",
            ready.status()
        );
        assert!(
            (400..500).contains(&s),
            "{what}: refused with a 4xx, got {s} {v}"
        );
        assert!(!message.is_empty(), "{what}: the refusal says why: {v}");
        assert!(took < Duration::from_secs(1), "{what}: refused in {took:?}");
        assert_eq!(ready.status(), 200);
    }
    // An honest profile still goes through afterwards.
    let id = up.submit(&alice).await;
    println!("an honest profile afterwards: job {id} accepted");
}
