//! Every key of Centrifugo v6's configuration, as dotted paths (`[]` marks the items of an
//! array). Built from Centrifugo v6's config structs (`internal/config/config.go`,
//! `internal/configtypes/*.go`) and the namespace options of the protocol reference §5.2.
//! A key listed here that beacon's own schema lacks is "recognised but unsupported": it is
//! accepted, ignored, and named in the start-up warning. Keys with a free-form map value
//! (`static_headers`, `channel_replacements`) are leaves: their contents are not checked.

use std::collections::BTreeSet;

/// The key paths of a Centrifugo v6 config (objects included, so `a.b` implies `a`).
pub(super) fn centrifugo_keys() -> BTreeSet<String> {
    let mut k = Keys::default();
    k.section(
        "http_server",
        &["address", "port", "internal_address", "internal_port"],
    );
    k.tls("http_server.tls");
    k.section(
        "http_server.tls_autocert",
        &[
            "enabled",
            "host_whitelist",
            "cache_dir",
            "email",
            "server_name",
            "http",
            "http_addr",
        ],
    );
    k.leaf("http_server.tls_external");
    k.tls("http_server.internal_tls");
    k.section("http_server.http3", &["enabled"]);
    k.leaf("http_server.h2c_external");
    k.section("log", &["level", "file"]);

    k.section("engine", &["type"]);
    k.redis("engine.redis");
    k.redis_broker_extras("engine.redis");
    k.redis_presence_extras("engine.redis");
    k.section("broker", &["enabled", "type"]);
    k.redis("broker.redis");
    k.redis_broker_extras("broker.redis");
    k.nats("broker.nats");
    k.redis("broker.redisnats.redis");
    k.redis_broker_extras("broker.redisnats.redis");
    k.nats("broker.redisnats.nats");
    k.section("presence_manager", &["enabled", "type"]);
    k.redis("presence_manager.redis");
    k.redis_presence_extras("presence_manager.redis");

    k.client();
    k.channel();
    k.section("rpc", &["namespace_boundary"]);
    k.proxy("rpc.proxy");
    k.section("rpc.without_namespace", &["proxy_enabled", "proxy_name"]);
    k.section("rpc.namespaces[]", &["name", "proxy_enabled", "proxy_name"]);
    k.section("rpc.ping", &["enabled", "method"]);
    k.leaf("proxies[].name");
    k.proxy("proxies[]");

    k.section(
        "http_api",
        &[
            "disabled",
            "handler_prefix",
            "key",
            "error_mode",
            "external",
            "insecure",
        ],
    );
    k.section(
        "grpc_api",
        &[
            "enabled",
            "error_mode",
            "address",
            "port",
            "key",
            "reflection",
            "max_receive_message_size",
        ],
    );
    k.tls("grpc_api.tls");
    k.consumers();
    k.transports();
    k.section(
        "admin",
        &[
            "enabled",
            "handler_prefix",
            "password",
            "secret",
            "insecure",
            "web_path",
            "web_proxy_address",
            "external",
        ],
    );
    k.section(
        "prometheus",
        &["enabled", "handler_prefix", "instrument_http_handlers"],
    );
    k.section("health", &["enabled", "handler_prefix"]);
    k.section("swagger", &["enabled", "handler_prefix"]);
    k.section("debug", &["enabled", "handler_prefix"]);
    k.section("opentelemetry", &["enabled", "api", "consuming"]);
    k.section(
        "graphite",
        &["enabled", "host", "port", "prefix", "interval", "tags"],
    );
    k.section("usage_stats", &["disabled"]);
    k.section("node", &["name", "info_metrics_aggregate_interval"]);
    k.section("shutdown", &["timeout"]);
    k.leaf("pid_file");
    k.leaf("enable_unreleased_features");
    k.0
}

/// The keys under `prefix` (`""`: all, `"channel.namespaces[]"`: namespace options) as a tree
/// of objects with `null` leaves, the shape the env resolver walks. Keys inside arrays are left
/// out (env cannot address them).
pub(super) fn centrifugo_tree(prefix: &str) -> serde_json::Value {
    let mut root = serde_json::Map::new();
    let strip = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}.")
    };
    for key in centrifugo_keys() {
        let Some(rel) = key.strip_prefix(strip.as_str()) else {
            continue;
        };
        if rel.is_empty() || rel.contains("[]") {
            continue;
        }
        let mut node = &mut root;
        let parts: Vec<&str> = rel.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            let entry = node
                .entry(part.to_string())
                .or_insert(serde_json::Value::Null);
            if i + 1 < parts.len() && !entry.is_object() {
                *entry = serde_json::Value::Object(serde_json::Map::new());
            }
            match entry {
                serde_json::Value::Object(m) => node = m,
                _ => break,
            }
        }
    }
    serde_json::Value::Object(root)
}

#[derive(Default)]
struct Keys(BTreeSet<String>);

impl Keys {
    /// Adds `path` and every parent of it (an array's items `a[]` imply the key `a`).
    fn leaf(&mut self, path: &str) {
        let mut end = 0;
        while let Some(i) = path[end..].find('.') {
            end += i;
            self.insert(&path[..end]);
            end += 1;
        }
        self.insert(path);
    }

    fn insert(&mut self, path: &str) {
        if let Some(array) = path.strip_suffix("[]") {
            self.0.insert(array.to_string());
        }
        self.0.insert(path.to_string());
    }

    fn section(&mut self, prefix: &str, leaves: &[&str]) {
        self.leaf(prefix);
        for l in leaves {
            self.leaf(&format!("{prefix}.{l}"));
        }
    }

    fn tls(&mut self, prefix: &str) {
        self.section(
            prefix,
            &[
                "enabled",
                "cert_pem",
                "key_pem",
                "server_ca_pem",
                "client_ca_pem",
                "insecure_skip_verify",
                "server_name",
            ],
        );
    }

    fn redis(&mut self, prefix: &str) {
        self.section(
            prefix,
            &[
                "address",
                "prefix",
                "connect_timeout",
                "io_timeout",
                "db",
                "user",
                "password",
                "client_name",
                "force_resp2",
                "cluster_address",
                "sentinel_address",
                "sentinel_user",
                "sentinel_password",
                "sentinel_master_name",
                "sentinel_client_name",
            ],
        );
        self.tls(&format!("{prefix}.tls"));
        self.tls(&format!("{prefix}.sentinel_tls"));
    }

    fn redis_broker_extras(&mut self, prefix: &str) {
        self.leaf(&format!("{prefix}.history_use_lists"));
    }

    fn redis_presence_extras(&mut self, prefix: &str) {
        self.section(
            prefix,
            &[
                "presence_ttl",
                "presence_hash_field_ttl",
                "presence_user_mapping",
            ],
        );
    }

    fn nats(&mut self, prefix: &str) {
        self.section(
            prefix,
            &[
                "url",
                "prefix",
                "dial_timeout",
                "write_timeout",
                "allow_wildcards",
            ],
        );
        self.tls(&format!("{prefix}.tls"));
        self.section(
            &format!("{prefix}.raw_mode"),
            &["enabled", "channel_replacements", "prefix"],
        );
    }

    fn proxy(&mut self, prefix: &str) {
        self.section(
            prefix,
            &[
                "endpoint",
                "timeout",
                "http_headers",
                "grpc_metadata",
                "binary_encoding",
                "include_connection_meta",
            ],
        );
        let http = format!("{prefix}.http");
        self.section(&http, &["static_headers"]);
        self.tls(&format!("{http}.tls"));
        let transforms = format!("{http}.status_to_code_transforms[]");
        self.leaf(&format!("{transforms}.status_code"));
        self.section(
            &format!("{transforms}.to_error"),
            &["code", "message", "temporary"],
        );
        self.section(&format!("{transforms}.to_disconnect"), &["code", "reason"]);
        let grpc = format!("{prefix}.grpc");
        self.section(
            &grpc,
            &["credentials_key", "credentials_value", "compression"],
        );
        self.tls(&format!("{grpc}.tls"));
    }

    fn token(&mut self, prefix: &str) {
        self.section(
            prefix,
            &[
                "hmac_secret_key",
                "rsa_public_key",
                "ecdsa_public_key",
                "jwks_public_endpoint",
                "audience",
                "audience_regex",
                "issuer",
                "issuer_regex",
                "user_id_claim",
            ],
        );
    }

    fn client(&mut self) {
        self.section(
            "client",
            &[
                "allowed_origins",
                "allow_anonymous_connect_without_token",
                "disallow_anonymous_connection_tokens",
                "ping_interval",
                "pong_timeout",
                "expired_close_delay",
                "expired_sub_close_delay",
                "stale_close_delay",
                "channel_limit",
                "queue_max_size",
                "presence_update_interval",
                "concurrency",
                "channel_position_check_delay",
                "channel_position_max_time_lag",
                "connection_limit",
                "user_connection_limit",
                "connection_rate_limit",
                "connect_include_server_time",
                "history_max_publication_limit",
                "recovery_max_publication_limit",
                "insecure_skip_token_signature_verify",
                "user_id_http_header",
                "insecure",
            ],
        );
        self.token("client.token");
        self.token("client.subscription_token");
        self.leaf("client.subscription_token.enabled");
        for p in ["connect", "refresh"] {
            let prefix = format!("client.proxy.{p}");
            self.leaf(&format!("{prefix}.enabled"));
            self.proxy(&prefix);
        }
        self.section(
            "client.subscribe_to_user_personal_channel",
            &["enabled", "personal_channel_namespace", "single_connection"],
        );
        self.leaf("client.connect_code_to_unidirectional_disconnect.enabled");
        let t = "client.connect_code_to_unidirectional_disconnect.transforms[]";
        self.leaf(&format!("{t}.code"));
        self.section(&format!("{t}.to"), &["code", "reason"]);
    }

    fn channel_options(&mut self, prefix: &str) {
        self.section(
            prefix,
            &[
                "presence",
                "join_leave",
                "force_push_join_leave",
                "history_size",
                "history_ttl",
                "history_meta_ttl",
                "force_positioning",
                "allow_positioning",
                "force_recovery",
                "allow_recovery",
                "force_recovery_mode",
                "auto_cache_recover",
                "allowed_delta_types",
                "delta_publish",
                "allow_tags_filter",
                "allow_subscribe_for_anonymous",
                "allow_subscribe_for_client",
                "allow_publish_for_anonymous",
                "allow_publish_for_subscriber",
                "allow_publish_for_client",
                "allow_presence_for_anonymous",
                "allow_presence_for_subscriber",
                "allow_presence_for_client",
                "allow_history_for_anonymous",
                "allow_history_for_subscriber",
                "allow_history_for_client",
                "allow_user_limited_channels",
                "channel_regex",
                "publication_data_format",
                "subscribe_proxy_enabled",
                "subscribe_proxy_name",
                "publish_proxy_enabled",
                "publish_proxy_name",
                "sub_refresh_proxy_enabled",
                "sub_refresh_proxy_name",
                "subscribe_stream_proxy_enabled",
                "subscribe_stream_proxy_name",
                "subscribe_stream_proxy_bidirectional",
                // Experimental in v6 (map / shared-poll subscriptions).
                "subscription_type",
                "map",
                "shared_poll",
                "map_clients_presence_channel_prefix",
                "map_users_presence_channel_prefix",
                "client_publish_debounce_interval",
            ],
        );
    }

    fn channel(&mut self) {
        self.section(
            "channel",
            &[
                "history_meta_ttl",
                "max_length",
                "private_prefix",
                "namespace_boundary",
                "user_boundary",
                "user_separator",
            ],
        );
        for p in ["subscribe", "publish", "sub_refresh", "subscribe_stream"] {
            self.proxy(&format!("channel.proxy.{p}"));
        }
        self.channel_options("channel.without_namespace");
        self.leaf("channel.namespaces[].name");
        self.channel_options("channel.namespaces[]");
    }

    fn consumers(&mut self) {
        self.section("consumers[]", &["name", "enabled", "type"]);
        self.section(
            "consumers[].postgresql",
            &[
                "dsn",
                "outbox_table_name",
                "num_partitions",
                "partition_select_limit",
                "partition_poll_interval",
                "partition_notification_channel",
            ],
        );
        self.tls("consumers[].postgresql.tls");
        self.section(
            "consumers[].kafka",
            &[
                "brokers",
                "topics",
                "consumer_group",
                "max_poll_records",
                "sasl_mechanism",
                "sasl_user",
                "sasl_password",
                "partition_buffer_size",
                "fetch_max_bytes",
            ],
        );
        self.tls("consumers[].kafka.tls");
        self.section(
            "consumers[].kafka.publication_data_mode",
            &[
                "enabled",
                "channels_header",
                "idempotency_key_header",
                "delta_header",
            ],
        );
    }

    fn transports(&mut self) {
        let ws = [
            "handler_prefix",
            "compression",
            "compression_min_size",
            "compression_level",
            "read_buffer_size",
            "use_write_buffer_pool",
            "write_buffer_size",
            "write_timeout",
            "message_size_limit",
        ];
        self.section("websocket", &ws);
        self.leaf("websocket.disabled");
        self.section("uni_websocket", &ws);
        self.section("uni_websocket", &["enabled", "join_push_messages"]);
        for t in ["sse", "http_stream"] {
            self.section(t, &["enabled", "handler_prefix", "max_request_body_size"]);
        }
        for t in ["uni_sse", "uni_http_stream"] {
            self.section(t, &["enabled", "handler_prefix", "max_request_body_size"]);
            self.leaf(&format!("{t}.connect_code_to_http_response.enabled"));
            let tr = format!("{t}.connect_code_to_http_response.transforms[]");
            self.leaf(&format!("{tr}.code"));
            self.section(&format!("{tr}.to"), &["status_code", "body"]);
        }
        self.section(
            "webtransport",
            &["enabled", "handler_prefix", "message_size_limit"],
        );
        self.section(
            "uni_grpc",
            &["enabled", "address", "port", "max_receive_message_size"],
        );
        self.tls("uni_grpc.tls");
        self.section("emulation", &["handler_prefix", "max_request_body_size"]);
    }
}
