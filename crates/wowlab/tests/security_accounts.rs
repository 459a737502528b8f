//! Accounts against strangers, on a real `wowlab up` (and a real `wowlab node`): a sign-in
//! guessing loop is throttled while a normal user from another address still signs in; a
//! cross-origin POST with a valid session cookie is refused; a user over the fair-use quota
//! gets 429 while the pages keep working; a revoked claim token no longer attaches a node.
//! Each test prints what it tried and what it got. Clients on 127.0.0.2 and 127.0.0.3 are
//! other addresses to the grid (curl `--interface`; all of 127/8 is loopback on Linux).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{free_port, json, tempdir, wait_until, Proc, BIN};

/// A `wowlab up --nodes 0` on a free port.
struct Up {
    url: String,
    dir: PathBuf,
    _proc: Proc,
}

fn up(tag: &str) -> Up {
    let port = free_port();
    let dir = tempdir(tag);
    let child = Command::new(BIN)
        .args(["up", "--nodes", "0", "--addr"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir.join("up"))
        .env("RUST_LOG", "warn")
        .env_remove("WOWLAB_ALLOWED_ORIGINS")
        .env_remove("WOWLAB_TRUSTED_PROXIES")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn wowlab up");
    let proc = Proc(child);
    let url = format!("http://127.0.0.1:{port}");
    wait_until("grid ready", Duration::from_secs(60), || {
        request(&url, Req::get("/readyz")).status == 200
    });
    Up {
        url,
        dir,
        _proc: proc,
    }
}

/// One curl request.
struct Req<'a> {
    method: &'a str,
    path: String,
    from: &'a str,
    jar: Option<&'a Path>,
    bearer: Option<&'a str>,
    headers: Vec<String>,
    body: Option<String>,
}

impl<'a> Req<'a> {
    fn new(method: &'a str, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            from: "127.0.0.1",
            jar: None,
            bearer: None,
            headers: Vec::new(),
            body: None,
        }
    }
    fn get(path: &str) -> Self {
        Self::new("GET", path)
    }
    fn post(path: &str, body: serde_json::Value) -> Self {
        let mut r = Self::new("POST", path);
        r.body = Some(body.to_string());
        r
    }
    fn from(mut self, addr: &'a str) -> Self {
        self.from = addr;
        self
    }
    fn jar(mut self, jar: &'a Path) -> Self {
        self.jar = Some(jar);
        self
    }
    fn bearer(mut self, t: &'a str) -> Self {
        self.bearer = Some(t);
        self
    }
    fn header(mut self, h: &str) -> Self {
        self.headers.push(h.to_owned());
        self
    }
}

/// Status, lower-cased headers and body of an answer.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn code(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

fn request(base: &str, r: Req<'_>) -> Answer {
    let mut c = Command::new("curl");
    c.args([
        "-sS",
        "-m",
        "30",
        "-D",
        "-",
        "--interface",
        r.from,
        "-X",
        r.method,
    ]);
    if let Some(jar) = r.jar {
        c.arg("-c").arg(jar).arg("-b").arg(jar);
    }
    if let Some(t) = r.bearer {
        c.args(["-H", &format!("authorization: Bearer {t}")]);
    }
    for h in &r.headers {
        c.args(["-H", h]);
    }
    if let Some(b) = &r.body {
        c.args(["-H", "content-type: application/json", "--data-binary", b]);
    }
    c.arg(format!("{base}{}", r.path));
    let out = c.output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Answer {
            status: 0,
            headers: Vec::new(),
            body: String::from_utf8_lossy(&out.stderr).to_string(),
        };
    };
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// Signs `email` up from `from`, keeping its session in `jar`.
fn sign_up(g: &Up, jar: &Path, email: &str, from: &str) {
    let a = request(
        &g.url,
        Req::post(
            "/api/auth/signup",
            serde_json::json!({"email": email, "password": "correct horse battery"}),
        )
        .from(from)
        .jar(jar),
    );
    assert_eq!(a.status, 201, "sign-up of {email}: {}", a.body);
}

#[test]
fn a_sign_in_guessing_loop_is_throttled_while_a_normal_user_signs_in() {
    let g = up("sec-guess");
    sign_up(&g, &g.dir.join("alice"), "alice@example.org", "127.0.0.1");
    sign_up(&g, &g.dir.join("bob"), "bob@example.org", "127.0.0.3");
    println!("tried: guessing alice's password from 127.0.0.2 until refused");
    let started = Instant::now();
    let mut throttled = None;
    for attempt in 1..=40 {
        let a = request(
            &g.url,
            Req::post(
                "/api/auth/login",
                serde_json::json!({"email": "alice@example.org", "password": format!("guess-{attempt}")}),
            )
            .from("127.0.0.2"),
        );
        println!(
            "  guess {attempt}: {} {} retry-after={:?}",
            a.status,
            a.code(),
            a.header("retry-after")
        );
        match a.status {
            401 => assert_eq!(a.code(), "bad_credentials"),
            429 => {
                throttled = Some((attempt, a));
                break;
            }
            other => panic!("guess {attempt}: unexpected {other}: {}", a.body),
        }
    }
    let (attempt, a) = throttled.expect("the guessing loop was never throttled");
    let retry: u64 = a
        .header("retry-after")
        .expect("Retry-After on 429")
        .parse()
        .unwrap();
    println!(
        "got: 429 rate_limited after {} guesses in {:?}, Retry-After {retry} s",
        attempt - 1,
        started.elapsed()
    );
    assert!(attempt <= 21, "at most 20 guesses per minute per address");
    assert!(retry >= 1);
    // Still refused right after, and cheaply (no password hash is computed).
    let t = Instant::now();
    let again = request(
        &g.url,
        Req::post(
            "/api/auth/login",
            serde_json::json!({"email": "alice@example.org", "password": "one-more"}),
        )
        .from("127.0.0.2"),
    );
    assert_eq!(again.status, 429);
    println!("got: the next guess is refused too ({:?})", t.elapsed());

    println!("tried: bob signs in from 127.0.0.3 meanwhile");
    let bob = request(
        &g.url,
        Req::post(
            "/api/auth/login",
            serde_json::json!({"email": "bob@example.org", "password": "correct horse battery"}),
        )
        .from("127.0.0.3"),
    );
    println!("got: {} {}", bob.status, bob.body);
    assert_eq!(bob.status, 200, "{}", bob.body);
    assert!(bob
        .header("set-cookie")
        .is_some_and(|c| c.starts_with("wowlab_session=")));
}

#[test]
fn a_cross_origin_post_with_a_valid_cookie_is_refused() {
    let g = up("sec-origin");
    let jar = g.dir.join("alice");
    sign_up(&g, &jar, "alice@example.org", "127.0.0.1");
    println!("tried: POST /api/claim-tokens with alice's cookie and Origin: http://evil.example");
    let a = request(
        &g.url,
        Req::new("POST", "/api/claim-tokens")
            .jar(&jar)
            .header("origin: http://evil.example"),
    );
    println!("got: {} {}", a.status, a.body);
    assert_eq!((a.status, a.code().as_str()), (403, "cross_origin"));
    let list = request(&g.url, Req::get("/api/claim-tokens").jar(&jar));
    assert_eq!(
        json(&list.body).as_array().map(Vec::len),
        Some(0),
        "no token was minted"
    );

    let port = g.url.rsplit(':').next().unwrap();
    println!("tried: the same from another port of the same host (Origin http://127.0.0.1:1)");
    let a = request(
        &g.url,
        Req::new("POST", "/api/claim-tokens")
            .jar(&jar)
            .header("origin: http://127.0.0.1:1"),
    );
    println!("got: {} {}", a.status, a.code());
    assert_eq!(a.status, 403);

    println!("tried: the studio's own origin http://127.0.0.1:{port}");
    let a = request(
        &g.url,
        Req::new("POST", "/api/claim-tokens")
            .jar(&jar)
            .header(&format!("origin: http://127.0.0.1:{port}"))
            .header("sec-fetch-site: same-origin"),
    );
    println!("got: {} (token minted)", a.status);
    assert_eq!(a.status, 201, "{}", a.body);
    let tok = request(
        &g.url,
        Req::post("/api/tokens", serde_json::json!({})).jar(&jar),
    );
    let tok = json(&tok.body)["token"].as_str().unwrap().to_owned();
    println!("tried: an API token (Authorization: Bearer) with Origin: http://evil.example");
    let a = request(
        &g.url,
        Req::new("POST", "/api/claim-tokens")
            .bearer(&tok)
            .header("origin: http://evil.example"),
    );
    println!("got: {} (API tokens are not ambient credentials)", a.status);
    assert_eq!(a.status, 201, "{}", a.body);
    let page = request(&g.url, Req::get("/nodes").jar(&jar));
    let csp = page.header("content-security-policy").unwrap_or_default();
    println!("got: the nodes page with Content-Security-Policy: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
}

#[test]
fn a_user_over_quota_gets_429_and_the_pages_keep_working() {
    let g = up("sec-quota");
    let admin = g.dir.join("admin");
    let bob = g.dir.join("bob");
    sign_up(&g, &admin, "admin@example.org", "127.0.0.1");
    sign_up(&g, &bob, "bob@example.org", "127.0.0.1");
    println!("tried: the admin sets the quota to 1 unfinished job per user");
    let mut set = Req::new("PUT", "/api/admin/quotas").jar(&admin);
    set.body = Some(r#"{"maxActiveJobs":1}"#.into());
    let a = request(&g.url, set);
    println!("got: {} {}", a.status, a.body);
    assert_eq!(a.status, 200, "{}", a.body);
    let profile = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/profiles/burst-cooldowns.toml"),
    )
    .unwrap();
    let job = serde_json::json!({"profile": profile, "iterations": 1000, "seed": 1});
    // No nodes: the first job stays pending, so it counts.
    let first = request(&g.url, Req::post("/api/jobs", job.clone()).jar(&bob));
    println!("tried: bob submits a job -> {}", first.status);
    assert_eq!(first.status, 201, "{}", first.body);
    let second = request(&g.url, Req::post("/api/jobs", job).jar(&bob));
    println!(
        "tried: bob submits a second job -> {} {}",
        second.status, second.body
    );
    assert_eq!(
        (second.status, second.code().as_str()),
        (429, "quota_exceeded")
    );
    for page in ["/nodes", "/grid", "/"] {
        let a = request(&g.url, Req::get(page).jar(&bob));
        println!("got: {page} answers {} for bob at his limit", a.status);
        assert_eq!(a.status, 200);
    }
}

#[test]
fn a_revoked_claim_token_can_no_longer_attach_a_node() {
    let g = up("sec-claim");
    let jar = g.dir.join("alice");
    sign_up(&g, &jar, "alice@example.org", "127.0.0.1");
    let mint = || {
        let a = request(&g.url, Req::new("POST", "/api/claim-tokens").jar(&jar));
        assert_eq!(a.status, 201, "{}", a.body);
        let v = json(&a.body);
        (
            v["token"].as_str().unwrap().to_owned(),
            v["id"].as_str().unwrap().to_owned(),
        )
    };
    let (revoked, id) = mint();
    println!("tried: revoke claim token {}…", &id[..12]);
    let a = request(
        &g.url,
        Req::new("DELETE", &format!("/api/claim-tokens/{id}")).jar(&jar),
    );
    println!("got: {}", a.status);
    assert_eq!(a.status, 204);

    println!("tried: `wowlab node --claim-token <revoked>`");
    let out = run_node(&g, &revoked, "revoked", Duration::from_secs(60));
    let why = out.1.lines().find(|l| l.contains("revoked")).unwrap_or("");
    println!("got: exit {:?}: {}", out.0, why.trim());
    assert!(
        out.0.is_some_and(|c| c != 0),
        "the node must stop with an error"
    );
    assert!(out.1.contains("revoked"), "{}", out.1);
    let nodes = request(&g.url, Req::get("/api/nodes").jar(&jar));
    assert_eq!(json(&nodes.body).as_array().map(Vec::len), Some(0));

    // The same machine with a working token attaches (the refusal above was the revocation).
    let (good, _) = mint();
    println!("tried: `wowlab node --claim-token <fresh>`");
    let node = Proc(
        Command::new(BIN)
            .arg("node")
            .args(["--sentinel", &g.url, "--claim-token", &good])
            .arg("--data-dir")
            .arg(g.dir.join("node-good"))
            .args(["--max-parallel", "1", "--name", "good"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("the node attached", Duration::from_secs(60), || {
        let a = request(&g.url, Req::get("/api/nodes").jar(&jar));
        json(&a.body).as_array().is_some_and(|n| n.len() == 1)
    });
    println!("got: the node is listed in alice's account");
    drop(node);
}

/// Runs a node until it exits (or `limit`): (exit code, stderr).
fn run_node(g: &Up, token: &str, name: &str, limit: Duration) -> (Option<i32>, String) {
    let err_path = g.dir.join(format!("{name}.stderr"));
    let err = std::fs::File::create(&err_path).unwrap();
    let mut p = Proc(
        Command::new(BIN)
            .arg("node")
            .args(["--sentinel", &g.url, "--claim-token", token])
            .arg("--data-dir")
            .arg(g.dir.join(format!("node-{name}")))
            .args(["--max-parallel", "1", "--name", name])
            .env("RUST_LOG", "warn")
            .env_remove("RUST_BACKTRACE")
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    let code = loop {
        if let Some(s) = p.0.try_wait().unwrap() {
            break s.code();
        }
        if start.elapsed() > limit {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (code, std::fs::read_to_string(err_path).unwrap_or_default())
}
