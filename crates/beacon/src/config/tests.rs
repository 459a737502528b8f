use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_work_without_a_file() {
    let cfg = Config::from_json_str("{}").unwrap();
    assert_eq!(cfg.http_server.port, 8000);
    assert_eq!(cfg.http_server.address, "127.0.0.1");
    assert_eq!(
        cfg.client.ping_interval.get(),
        std::time::Duration::from_secs(25)
    );
    assert_eq!(
        cfg.client.pong_timeout.get(),
        std::time::Duration::from_secs(8)
    );
    assert_eq!(cfg.websocket.message_size_limit, 65536);
    assert_eq!(cfg.client.queue_max_size, 1_048_576);
    assert_eq!(cfg.listen_addr(), "127.0.0.1:8000");
}

#[test]
fn centrifugo_layout_parses() {
    let cfg = Config::from_json_str(
        r#"{
        "http_server": {"port": 9000},
        "client": {"token": {"hmac_secret_key": "secret"}, "insecure": false,
                   "ping_interval": "1m30s", "pong_timeout": "500ms", "allowed_origins": ["*"]},
        "channel": {"without_namespace": {"presence": true},
                    "namespaces": [{"name": "chat", "history_size": 100, "history_ttl": "300s",
                                    "force_recovery": true, "allow_subscribe_for_client": true}]},
        "http_api": {"key": "api"},
        "sse": {"enabled": true}
    }"#,
    )
    .unwrap();
    assert_eq!(cfg.http_server.port, 9000);
    assert_eq!(
        cfg.client.ping_interval.get(),
        std::time::Duration::from_secs(90)
    );
    assert_eq!(
        cfg.client.pong_timeout.get(),
        std::time::Duration::from_millis(500)
    );
    let chat = &cfg.channel.namespaces[0];
    assert_eq!(chat.name, "chat");
    assert!(chat.history_enabled());
    assert_eq!(chat.history_ttl.get(), std::time::Duration::from_secs(300));
    assert!(cfg.channel.without_namespace.presence);
    assert!(cfg.sse.enabled);
}

#[test]
fn unknown_key_is_rejected_with_its_path() {
    let err = Config::from_json_str(r#"{"client": {"token": {"hmac_secret": "x"}}}"#).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("client.token.hmac_secret"), "{msg}");
    assert!(
        msg.contains("did you mean `client.token.hmac_secret_key`"),
        "{msg}"
    );
    let err =
        Config::from_json_str(r#"{"channel": {"namespaces": [{"name": "a", "presense": true}]}}"#)
            .unwrap_err()
            .to_string();
    assert!(err.contains("channel.namespaces[0].presense"), "{err}");
}

#[test]
fn bad_duration_is_rejected() {
    let err = Config::from_json_str(r#"{"client": {"ping_interval": 25}}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("client.ping_interval"), "{err}");
    let err = Config::from_json_str(r#"{"client": {"ping_interval": "25x"}}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown unit"), "{err}");
}

#[test]
fn env_overrides_apply() {
    let cfg = Config::from_json_str_with_env(
        r#"{"http_server": {"port": 9000}}"#,
        env(&[
            ("WOWLAB_BEACON_HTTP_SERVER_PORT", "8123"),
            ("WOWLAB_BEACON_HTTP_SERVER_ADDRESS", "0.0.0.0"),
            ("WOWLAB_BEACON_CLIENT_TOKEN_HMAC_SECRET_KEY", "s3cret"),
            ("WOWLAB_BEACON_HTTP_API_KEY", "k"),
            ("WOWLAB_BEACON_CLIENT_INSECURE", "true"),
            ("WOWLAB_BEACON_CLIENT_PING_INTERVAL", "2s"),
            ("WOWLAB_BEACON_CLIENT_ALLOWED_ORIGINS", "http://a http://b"),
            ("WOWLAB_BEACON_CHANNEL_WITHOUT_NAMESPACE_PRESENCE", "true"),
            ("WOWLAB_BEACON_CONFIG", "ignored.json"),
            ("OTHER_VAR", "ignored"),
        ]),
    )
    .unwrap();
    assert_eq!(cfg.http_server.port, 8123);
    assert_eq!(cfg.http_server.address, "0.0.0.0");
    assert_eq!(cfg.client.token.hmac_secret_key, "s3cret");
    assert_eq!(cfg.http_api.key, "k");
    assert!(cfg.client.insecure);
    assert_eq!(
        cfg.client.ping_interval.get(),
        std::time::Duration::from_secs(2)
    );
    assert_eq!(cfg.client.allowed_origins, vec!["http://a", "http://b"]);
    assert!(cfg.channel.without_namespace.presence);
}

#[test]
fn env_namespaces() {
    let cfg = Config::from_json_str_with_env(
        r#"{"channel": {"namespaces": [{"name": "chat", "presence": true}]}}"#,
        env(&[
            ("WOWLAB_BEACON_CHANNEL_NAMESPACES", "chat small_history"),
            (
                "WOWLAB_BEACON_CHANNEL_NAMESPACES_SMALL_HISTORY_HISTORY_SIZE",
                "2",
            ),
            (
                "WOWLAB_BEACON_CHANNEL_NAMESPACES_SMALL_HISTORY_HISTORY_TTL",
                "300s",
            ),
            ("WOWLAB_BEACON_CHANNEL_NAMESPACES_CHAT_JOIN_LEAVE", "true"),
        ]),
    )
    .unwrap();
    assert_eq!(cfg.channel.namespaces.len(), 2);
    assert!(cfg.channel.namespaces[0].presence && cfg.channel.namespaces[0].join_leave);
    assert_eq!(cfg.channel.namespaces[1].name, "small_history");
    assert_eq!(cfg.channel.namespaces[1].history_size, 2);
    let json = Config::from_json_str_with_env(
        "{}",
        env(&[(
            "WOWLAB_BEACON_CHANNEL_NAMESPACES",
            r#"[{"name":"x","presence":true}]"#,
        )]),
    )
    .unwrap();
    assert!(json.channel.namespaces[0].presence);
}

#[test]
fn bad_env_is_rejected() {
    let e = Config::from_json_str_with_env("{}", env(&[("WOWLAB_BEACON_HTTP_SERVER_PROT", "1")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("WOWLAB_BEACON_HTTP_SERVER_PROT"), "{e}");
    let e = Config::from_json_str_with_env("{}", env(&[("WOWLAB_BEACON_HTTP_SERVER_PORT", "x")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not an integer"), "{e}");
    let e = Config::from_json_str_with_env(
        "{}",
        env(&[("WOWLAB_BEACON_CHANNEL_NAMESPACES_NOPE_PRESENCE", "1")]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("namespace not listed"), "{e}");
}

#[test]
fn validation_errors() {
    assert!(Config::from_json_str(r#"{"engine": {"type": "postgres"}}"#).is_err());
    assert!(Config::from_json_str(r#"{"broker": {"enabled": true, "type": "kafka"}}"#).is_err());
    assert!(
        Config::from_json_str(r#"{"presence_manager": {"enabled": true, "type": "nats"}}"#)
            .is_err()
    );
    assert!(Config::from_json_str(r#"{"engine": {"redis": {"address": "http://x"}}}"#).is_err());
    assert!(Config::from_json_str(r#"{"broker": {"nats": {"url": "http://x"}}}"#).is_err());
    assert!(Config::from_json_str(r#"{"broker": {"nats": {"urls": "nats://x"}}}"#).is_err());
    assert!(
        Config::from_json_str(r#"{"client": {"channel_position_check_delay": "0s"}}"#).is_err()
    );
    assert!(Config::from_json_str(
        r#"{"channel": {"namespaces": [{"name": "a"}, {"name": "a"}]}}"#
    )
    .is_err());
    assert!(Config::from_json_str(r#"{"channel": {"namespaces": [{"presence": true}]}}"#).is_err());
    assert!(Config::from_json_str("[]").is_err());
}

#[test]
fn durations_round_trip() {
    for s in ["25s", "300ms", "2m", "720h", "0s"] {
        let d = Duration::parse(s).unwrap();
        assert_eq!(Duration::parse(&d.to_string()).unwrap(), d);
    }
    assert_eq!(Duration::parse("1h30m").unwrap().get().as_secs(), 5400);
    assert!(Duration::parse("").is_err());
    assert!(Duration::parse("10").is_err());
}

#[test]
fn example_config_parses() {
    let text = include_str!("../../../../examples/beacon/beacon.json");
    let cfg = Config::from_json_str(text).unwrap();
    assert!(!cfg.channel.namespaces.is_empty());
}

#[test]
fn limits_and_api_key_options_default_to_safe_values() {
    let cfg = Config::from_json_str("{}").unwrap();
    assert_eq!(cfg.client.connection_limit, 0);
    assert_eq!(cfg.client.user_connection_limit, 0);
    assert!(!cfg.http_api.allow_key_in_query);
}

#[test]
fn centrifugo_v6_limit_keys_load() {
    // Written as a Centrifugo v6 config would be, plus beacon's one `http_api` extension.
    let cfg = Config::from_json_str(
        r#"{
        "client": {"token": {"hmac_secret_key": "secret"},
                   "connection_limit": 10000, "user_connection_limit": 5, "channel_limit": 64},
        "http_api": {"key": "api", "insecure": false, "error_mode": "", "allow_key_in_query": true}
    }"#,
    )
    .unwrap();
    assert_eq!(cfg.client.connection_limit, 10000);
    assert_eq!(cfg.client.user_connection_limit, 5);
    assert!(cfg.http_api.allow_key_in_query);
    let err = Config::from_json_str(r#"{"client": {"connection_limit": -1}}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("client.connection_limit"), "{err}");
}

#[test]
fn limit_keys_have_env_overrides() {
    let cfg = Config::from_json_str_with_env(
        "{}",
        env(&[
            ("WOWLAB_BEACON_CLIENT_CONNECTION_LIMIT", "300"),
            ("WOWLAB_BEACON_CLIENT_USER_CONNECTION_LIMIT", "3"),
            ("WOWLAB_BEACON_HTTP_API_ALLOW_KEY_IN_QUERY", "true"),
        ]),
    )
    .unwrap();
    assert_eq!(cfg.client.connection_limit, 300);
    assert_eq!(cfg.client.user_connection_limit, 3);
    assert!(cfg.http_api.allow_key_in_query);
}

#[test]
fn engine_selection_follows_centrifugo_layout() {
    use super::{BrokerChoice, PresenceChoice};
    let c = Config::default();
    assert!(c.is_single_node());
    // engine.type redis: broker and presence in Redis; a bare host:port is accepted.
    let c = Config::from_json_str(
        r#"{"engine": {"type": "redis", "redis": {"address": "10.0.0.1:6379", "prefix": "p"}}}"#,
    )
    .unwrap();
    let BrokerChoice::Redis(r) = c.broker_choice() else {
        panic!("{:?}", c.broker_choice())
    };
    assert_eq!(r.address, "redis://10.0.0.1:6379");
    assert_eq!(r.prefix, "p");
    assert!(matches!(c.presence_choice(), PresenceChoice::Redis(_)));
    // The issue's deployment: NATS broker + Redis presence; history goes to that Redis.
    let c = Config::from_json_str(
        r#"{"broker": {"enabled": true, "type": "nats", "nats": {"url": "nats://n:4222", "prefix": "x"}},
            "presence_manager": {"enabled": true, "type": "redis", "redis": {"address": "redis://r:1", "presence_ttl": "5s"}}}"#,
    )
    .unwrap();
    match c.broker_choice() {
        BrokerChoice::Nats { nats, history } => {
            assert_eq!(nats.url, "nats://n:4222");
            assert_eq!(nats.prefix, "x");
            let h = history.expect("history in the presence Redis");
            assert_eq!(h.address, "redis://r:1");
            assert_eq!(h.presence_ttl, std::time::Duration::from_secs(5));
        }
        other => panic!("{other:?}"),
    }
    // A disabled broker section is ignored, as in Centrifugo.
    let c = Config::from_json_str(r#"{"broker": {"type": "nats"}}"#).unwrap();
    assert_eq!(c.broker_choice(), BrokerChoice::Memory);
    // NATS alone: no history source.
    let c = Config::from_json_str(r#"{"broker": {"enabled": true, "type": "nats"}}"#).unwrap();
    assert!(matches!(
        c.broker_choice(),
        BrokerChoice::Nats { history: None, .. }
    ));
}

#[test]
fn engine_env_overrides_and_server_flags() {
    let c = Config::from_value(
        serde_json::json!({}),
        env(&[
            ("WOWLAB_BEACON_BROKER_ENABLED", "true"),
            ("WOWLAB_BEACON_BROKER_TYPE", "nats"),
            ("WOWLAB_BEACON_BROKER_NATS_URL", "nats://127.0.0.1:1"),
            ("WOWLAB_BEACON_PRESENCE_MANAGER_ENABLED", "true"),
            (
                "WOWLAB_BEACON_PRESENCE_MANAGER_REDIS_ADDRESS",
                "redis://127.0.0.1:2",
            ),
        ]),
    )
    .unwrap();
    assert!(matches!(
        c.broker_choice(),
        super::BrokerChoice::Nats {
            history: Some(_),
            ..
        }
    ));
    let mut c = Config::default();
    c.use_servers(None, Some("redis://h:1"));
    assert!(matches!(c.broker_choice(), super::BrokerChoice::Redis(_)));
    let mut c = Config::default();
    c.use_servers(Some("nats://h:2"), Some("redis://h:1"));
    assert!(matches!(
        c.broker_choice(),
        super::BrokerChoice::Nats { .. }
    ));
    assert!(matches!(
        c.presence_choice(),
        super::PresenceChoice::Redis(_)
    ));
}

#[test]
fn distributed_examples_load() {
    for (name, text, port) in [
        (
            "beacon-a.json",
            include_str!("../../../../examples/distributed/beacon-a.json"),
            8001,
        ),
        (
            "beacon-b.json",
            include_str!("../../../../examples/distributed/beacon-b.json"),
            8002,
        ),
    ] {
        let c = Config::from_json_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(c.http_server.port, port);
        match c.broker_choice() {
            super::BrokerChoice::Nats { nats, history } => {
                assert_eq!(nats.url, "nats://127.0.0.1:4222");
                assert_eq!(nats.prefix, "wowlab");
                assert_eq!(history.expect("history in Redis").prefix, "wowlab");
            }
            other => panic!("{name}: {other:?}"),
        }
        assert!(matches!(
            c.presence_choice(),
            super::PresenceChoice::Redis(_)
        ));
    }
}

const FULL_V6: &str = include_str!("../../../../tests/fixtures/centrifugo-v6-full.json");

#[test]
fn a_full_centrifugo_v6_config_loads() {
    let cfg = Config::from_json_str(FULL_V6).unwrap();
    // Supported keys work.
    assert_eq!(cfg.http_server.port, 8000);
    assert_eq!(cfg.client.token.hmac_secret_key, "fixture-secret");
    assert_eq!(cfg.http_api.key, "fixture-api-key");
    assert_eq!(cfg.engine.redis.address, "redis://127.0.0.1:6379");
    assert!(cfg.sse.enabled && cfg.http_stream.enabled);
    assert!(cfg.rpc.ping.enabled);
    let chat = cfg
        .channel
        .namespaces
        .iter()
        .find(|n| n.name == "chat")
        .unwrap();
    assert!(chat.allows_fossil() && !chat.delta_publish);
    assert!(cfg.channel.without_namespace.allows_fossil());
    assert!(cfg.channel.without_namespace.delta_publish);
    // Recognised keys beacon lacks are listed (once each), not refused.
    let u = &cfg.unsupported_keys;
    for key in [
        "client.concurrency",
        "grpc_api",
        "consumers",
        "proxies",
        "admin",
        "channel.proxy",
        "channel.namespaces[0].subscribe_proxy_enabled",
        "channel.namespaces[0].publication_data_format",
        "channel.namespaces[1].allow_tags_filter",
        "websocket.compression",
        "engine.redis.io_timeout",
        "http_server.internal_port",
        "node",
    ] {
        assert!(u.iter().any(|k| k == key), "{key} missing from {u:?}");
    }
    // Switched-off or zero settings ask for nothing and are not reported.
    for key in [
        "client.proxy",
        "http_server.tls",
        "http3",
        "webtransport",
        "client.channel_position_max_time_lag",
        "broker.nats.dial_timeout",
        "client.connection_rate_limit",
    ] {
        assert!(!u.iter().any(|k| k.contains(key)), "{key} reported: {u:?}");
    }
    let mut sorted = u.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), u.len(), "{u:?}");
}

#[test]
fn keys_refused_before_now_load() {
    let cfg = Config::from_json_str(
        r#"{"client": {"concurrency": 16},
            "channel": {"namespaces": [{"name": "d", "allowed_delta_types": ["fossil"],
                                        "delta_publish": true}]}}"#,
    )
    .unwrap();
    assert_eq!(cfg.unsupported_keys, vec!["client.concurrency".to_string()]);
    assert!(cfg.channel.namespaces[0].allows_fossil());
    assert!(cfg.channel.namespaces[0].delta_publish);
    let err = Config::from_json_str(
        r#"{"channel": {"without_namespace": {"allowed_delta_types": ["xdelta"]}}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("xdelta"), "{err}");
}

#[test]
fn typos_name_the_path_and_the_nearest_key() {
    let cases = [
        (
            r#"{"client": {"concurency": 4}}"#,
            "client.concurency",
            "client.concurrency",
        ),
        (
            r#"{"channel": {"namespaces": [{"name": "a", "delta_pubish": true}]}}"#,
            "channel.namespaces[0].delta_pubish",
            "channel.namespaces[].delta_publish",
        ),
        // Inside a section beacon does not implement.
        (
            r#"{"grpc_api": {"enabeld": true}}"#,
            "grpc_api.enabeld",
            "grpc_api.enabled",
        ),
        (r#"{"prometeus": {}}"#, "prometeus", "`prometheus`"),
        (
            r#"{"proxies": [{"name": "p", "endpont": "http://x"}]}"#,
            "proxies[0].endpont",
            "proxies[].endpoint",
        ),
    ];
    for (doc, path, suggestion) in cases {
        let err = Config::from_json_str(doc).unwrap_err();
        match &err {
            ConfigError::Key { path: p, message } => {
                assert_eq!(p, path, "{doc}");
                assert!(message.contains(suggestion), "{doc}: {message}");
            }
            other => panic!("{doc}: {other}"),
        }
    }
}

#[test]
fn sharded_redis_addresses_use_the_first_and_are_reported() {
    let cfg = Config::from_json_str(
        r#"{"engine": {"redis": {"address": ["redis://a:6379", "redis://b:6379"]}}}"#,
    )
    .unwrap();
    assert_eq!(cfg.engine.redis.address, "redis://a:6379");
    assert!(cfg.unsupported_keys[0].starts_with("engine.redis.address[1..]"));
}

#[test]
fn unsupported_keys_from_the_environment_are_reported_not_refused() {
    let cfg = Config::from_json_str_with_env(
        r#"{"channel": {"namespaces": [{"name": "chat"}]}}"#,
        env(&[
            ("WOWLAB_BEACON_CLIENT_CONCURRENCY", "8"),
            ("WOWLAB_BEACON_GRPC_API_ENABLED", "true"),
            (
                "WOWLAB_BEACON_CHANNEL_NAMESPACES_CHAT_SUBSCRIBE_PROXY_ENABLED",
                "true",
            ),
            (
                "WOWLAB_BEACON_CHANNEL_NAMESPACES_CHAT_DELTA_PUBLISH",
                "true",
            ),
        ]),
    )
    .unwrap();
    let u = &cfg.unsupported_keys;
    assert!(
        u.contains(&"client.concurrency (WOWLAB_BEACON_CLIENT_CONCURRENCY)".to_string()),
        "{u:?}"
    );
    assert!(
        u.iter().any(|k| k.starts_with("grpc_api.enabled ")),
        "{u:?}"
    );
    assert!(
        u.iter()
            .any(|k| k.starts_with("channel.namespaces[0].subscribe_proxy_enabled ")),
        "{u:?}"
    );
    assert!(cfg.channel.namespaces[0].delta_publish);
    // Not a Centrifugo key at all: still an error.
    assert!(
        Config::from_json_str_with_env("{}", env(&[("WOWLAB_BEACON_CLIENT_CONCURENCY", "8")]))
            .is_err()
    );
}
