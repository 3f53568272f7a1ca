//! Offline checks of the demo's docker-compose stack (`compose/`): the compose file, the
//! Dockerfile, the Prometheus, OpenTelemetry Collector and Grafana configurations, and the
//! dashboards. No container runs here: `docker-compose config` and `promtool check config`
//! validate the files (both are installed by scripts/setup.sh; a missing one fails the test), and
//! the rest parses the files and checks that they agree with each other and with the demo.

#[path = "common/dashboards.rs"]
mod dashboards;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

const COMPOSE_FILE: &str = "compose/docker-compose.yml";
const DOCKERFILE: &str = "compose/Dockerfile";
const DOCKERIGNORE: &str = "compose/Dockerfile.dockerignore";
const PROMETHEUS_CONFIG: &str = "compose/prometheus/prometheus.yml";
const COLLECTOR_CONFIG: &str = "compose/otel-collector.yaml";
const DATASOURCES: &str = "compose/grafana/provisioning/datasources/datasources.yaml";
const DASHBOARD_PROVIDERS: &str = "compose/grafana/provisioning/dashboards/dashboards.yaml";
const INIT_SQL: &str = "compose/postgres/init.sql";
const README: &str = "compose/README.md";

/// The demo's services: each is a compose service, a binary and a Prometheus job of that name,
/// listening (HTTP and /metrics) on its port.
const SERVICES: [(&str, u16); 3] = [
    ("gateway", 8080),
    ("user-service", 8081),
    ("order-service", 8082),
];

/// The binaries of the hyperion-demo package, all in the image.
const BINARIES: [&str; 4] = ["gateway", "user-service", "order-service", "demo"];

/// The demo's configurations, in the repository and in the image.
const CONFIG_DIR: &str = "examples/demo/config";

// ---------------------------------------------------------------------------------------------
// Helpers

fn root() -> PathBuf {
    dashboards::repo_root()
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn yaml(relative: &str) -> Yaml {
    serde_yaml::from_str(&read(relative))
        .unwrap_or_else(|e| panic!("{relative} is not valid YAML: {e}"))
}

/// Runs a program in the repository root. A program that cannot be started fails the test: the
/// checks are never skipped.
fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `{program}` ({e}); scripts/setup.sh installs it (Debian's \
                 docker-compose and prometheus packages)"
            )
        })
}

fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "`{what}` failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}

/// A scalar as text (compose allows numbers and booleans where strings are meant).
fn text(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The texts of a sequence (a missing key is an empty list).
fn texts(value: &Yaml) -> Vec<String> {
    value
        .as_sequence()
        .map(|items| items.iter().filter_map(text).collect())
        .unwrap_or_default()
}

/// The keys of a mapping (a missing key is an empty set).
fn keys(value: &Yaml) -> BTreeSet<String> {
    value
        .as_mapping()
        .map(|map| map.keys().filter_map(text).collect())
        .unwrap_or_default()
}

/// A compose value with its interpolation resolved to the default: `${NAME:-400}` is `400`.
fn with_default(value: &str) -> &str {
    value
        .strip_prefix("${")
        .and_then(|rest| rest.strip_suffix('}'))
        .and_then(|inner| inner.split_once(":-").or_else(|| inner.split_once('-')))
        .map_or(value, |(_, default)| default)
}

/// `host` and `port` of `scheme://user:password@host:port/path`, `host:port` or `host:port/path`.
fn host_port(address: &str) -> (String, u16) {
    let rest = address.split_once("://").map_or(address, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let (host, port) = authority
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("`{address}` has no port"));
    let port = port
        .parse()
        .unwrap_or_else(|e| panic!("`{address}` has no valid port: {e}"));
    (host.to_owned(), port)
}

struct Compose {
    file: Yaml,
}

impl Compose {
    fn load() -> Self {
        Self {
            file: yaml(COMPOSE_FILE),
        }
    }

    fn services(&self) -> BTreeMap<String, &Yaml> {
        let services = self.file["services"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{COMPOSE_FILE} has no services"));
        services
            .iter()
            .map(|(name, service)| (text(name).expect("a service name"), service))
            .collect()
    }

    fn service(&self, name: &str) -> &Yaml {
        let service = &self.file["services"][name];
        assert!(
            service.is_mapping(),
            "{COMPOSE_FILE} has no service `{name}`"
        );
        service
    }

    /// The environment of a service, in the map or the list form.
    fn env(&self, name: &str) -> BTreeMap<String, String> {
        let environment = &self.service(name)["environment"];
        if let Some(list) = environment.as_sequence() {
            list.iter()
                .filter_map(text)
                .map(|entry| match entry.split_once('=') {
                    Some((key, value)) => (key.to_owned(), value.to_owned()),
                    None => (entry, String::new()),
                })
                .collect()
        } else {
            environment
                .as_mapping()
                .map(|map| {
                    map.iter()
                        .map(|(k, v)| {
                            (
                                text(k).expect("a variable name"),
                                text(v).unwrap_or_default(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        }
    }

    fn env_var(&self, service: &str, name: &str) -> String {
        self.env(service)
            .remove(name)
            .unwrap_or_else(|| panic!("service `{service}` does not set {name}"))
    }

    /// The command of a service as arguments (a string is split at whitespace).
    fn command(&self, name: &str) -> Vec<String> {
        let command = &self.service(name)["command"];
        match command {
            Yaml::String(line) => line.split_whitespace().map(str::to_owned).collect(),
            _ => texts(command),
        }
    }

    /// The services a service depends on, in the list or the map form, with their conditions.
    fn depends_on(&self, name: &str) -> Vec<(String, String)> {
        let depends_on = &self.service(name)["depends_on"];
        if let Some(list) = depends_on.as_sequence() {
            list.iter()
                .filter_map(text)
                .map(|dep| (dep, "service_started".to_owned()))
                .collect()
        } else {
            depends_on
                .as_mapping()
                .map(|map| {
                    map.iter()
                        .map(|(dep, spec)| {
                            let condition = text(&spec["condition"])
                                .unwrap_or_else(|| "service_started".to_owned());
                            (text(dep).expect("a service name"), condition)
                        })
                        .collect()
                })
                .unwrap_or_default()
        }
    }

    /// The bind mounts of a service: (source resolved against compose/, target).
    fn binds(&self, name: &str) -> Vec<(PathBuf, String)> {
        self.volumes(name)
            .into_iter()
            .filter_map(|(source, target, bind)| {
                bind.then(|| (root().join("compose").join(source), target))
            })
            .collect()
    }

    /// The volumes of a service: (source, target, whether it is a bind mount).
    fn volumes(&self, name: &str) -> Vec<(String, String, bool)> {
        let is_path = |source: &str| {
            source.starts_with('.') || source.starts_with('/') || source.starts_with('~')
        };
        self.service(name)["volumes"]
            .as_sequence()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|volume| match volume {
                Yaml::String(short) => {
                    let mut parts = short.split(':');
                    let source = parts.next().unwrap_or_default().to_owned();
                    let target = parts
                        .next()
                        .unwrap_or_else(|| panic!("volume `{short}` of `{name}` has no target"))
                        .to_owned();
                    let bind = is_path(&source);
                    (source, target, bind)
                }
                long => {
                    let source = text(&long["source"]).unwrap_or_default();
                    let target = text(&long["target"])
                        .unwrap_or_else(|| panic!("a volume of `{name}` has no target"));
                    let bind = text(&long["type"]).as_deref() == Some("bind");
                    (source, target, bind)
                }
            })
            .collect()
    }

    /// The target where a service mounts a file or directory of the repository (relative path).
    fn mount_target(&self, name: &str, relative: &str) -> String {
        let wanted = canonical(&root().join(relative));
        self.binds(name)
            .into_iter()
            .find(|(source, _)| source.exists() && canonical(source) == wanted)
            .map(|(_, target)| target)
            .unwrap_or_else(|| panic!("service `{name}` does not mount {relative}"))
    }
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The value of `--flag=value` or `--flag value` in a command.
fn flag_value(command: &[String], flag: &str) -> Option<String> {
    command.iter().enumerate().find_map(|(i, arg)| {
        if let Some(value) = arg.strip_prefix(flag).and_then(|v| v.strip_prefix('=')) {
            Some(value.to_owned())
        } else if arg == flag {
            command.get(i + 1).cloned()
        } else {
            None
        }
    })
}

/// One Dockerfile instruction: its keyword (upper case) and arguments, continuation lines joined
/// and comment lines left out.
struct Instruction {
    keyword: String,
    args: String,
}

fn dockerfile() -> Vec<Instruction> {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in read(DOCKERFILE).lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(start) => {
                current.push_str(start);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let line = std::mem::take(&mut current);
                if let Some((keyword, args)) = line.trim().split_once(char::is_whitespace) {
                    instructions.push(Instruction {
                        keyword: keyword.to_ascii_uppercase(),
                        args: args.trim().to_owned(),
                    });
                }
            }
        }
    }
    instructions
}

/// The stages of the Dockerfile: (image, stage name, instructions after FROM).
fn dockerfile_stages() -> Vec<(String, Option<String>, Vec<Instruction>)> {
    let mut stages: Vec<(String, Option<String>, Vec<Instruction>)> = Vec::new();
    for instruction in dockerfile() {
        if instruction.keyword == "FROM" {
            let words: Vec<&str> = instruction
                .args
                .split_whitespace()
                .filter(|w| !w.starts_with("--platform"))
                .collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some((*name).to_owned()),
                _ => None,
            };
            stages.push((words[0].to_owned(), name, Vec::new()));
        } else {
            let stage = stages
                .last_mut()
                .unwrap_or_else(|| panic!("{DOCKERFILE}: {} before FROM", instruction.keyword));
            stage.2.push(instruction);
        }
    }
    stages
}

/// A COPY's flags, sources and destination.
fn copy_parts(args: &str) -> (Vec<String>, Vec<String>, String) {
    let words: Vec<String> = args.split_whitespace().map(str::to_owned).collect();
    let (flags, paths): (Vec<String>, Vec<String>) =
        words.into_iter().partition(|w| w.starts_with("--"));
    let (destination, sources) = paths
        .split_last()
        .unwrap_or_else(|| panic!("COPY {args}: no destination"));
    (flags, sources.to_vec(), destination.clone())
}

/// `major.minor` of a version such as `1.95`, `1.95.0` or `1.94-bookworm`.
fn major_minor(version: &str) -> (u32, u32) {
    let mut numbers = version.split(['.', '-']).map(|n| {
        n.parse::<u32>()
            .unwrap_or_else(|_| panic!("bad version `{version}`"))
    });
    (
        numbers.next().expect("a major version"),
        numbers.next().unwrap_or(0),
    )
}

/// The highest `rust-version` among the workspace's manifests.
fn workspace_rust_version() -> (u32, u32) {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                let skip = [".git", "target", ".tools", "node_modules"];
                if depth > 0 && !skip.iter().any(|s| name == *s) {
                    walk(&path, depth - 1, out);
                }
            } else if name == "Cargo.toml" {
                out.push(path);
            }
        }
    }
    let mut manifests = Vec::new();
    walk(&root(), 3, &mut manifests);
    manifests
        .iter()
        .flat_map(|manifest| {
            let text = fs::read_to_string(manifest).unwrap_or_default();
            text.lines()
                .filter_map(|line| {
                    let value = line.trim().strip_prefix("rust-version")?.trim_start();
                    let value = value.strip_prefix('=')?.trim();
                    let version = value.strip_prefix('"')?.split('"').next()?;
                    Some(major_minor(version))
                })
                .collect::<Vec<_>>()
        })
        .max()
        .expect("a rust-version in the workspace's manifests")
}

fn provisioned_datasources() -> Vec<Yaml> {
    yaml(DATASOURCES)["datasources"]
        .as_sequence()
        .cloned()
        .unwrap_or_else(|| panic!("{DATASOURCES} has no datasources"))
}

fn datasource_uids() -> BTreeSet<String> {
    provisioned_datasources()
        .iter()
        .map(|ds| text(&ds["uid"]).unwrap_or_else(|| panic!("a datasource without a uid: {ds:?}")))
        .collect()
}

/// Every panel of a dashboard, panels nested in rows included.
fn panels(dashboard: &Json) -> Vec<&Json> {
    fn walk<'a>(list: &'a Json, out: &mut Vec<&'a Json>) {
        for panel in list.as_array().map(Vec::as_slice).unwrap_or_default() {
            out.push(panel);
            if let Some(nested) = panel.get("panels") {
                walk(nested, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

fn panel_targets(panel: &Json) -> &[Json] {
    panel["targets"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn panel_name(file: &Path, panel: &Json) -> String {
    format!(
        "{} panel {} ({})",
        file.file_name().unwrap_or_default().to_string_lossy(),
        panel["id"],
        panel["title"].as_str().unwrap_or("untitled"),
    )
}

/// A duration panel: a time unit, or a query over a `*_seconds` histogram's buckets.
fn is_duration_panel(panel: &Json) -> bool {
    let unit = panel
        .pointer("/fieldConfig/defaults/unit")
        .and_then(Json::as_str)
        .unwrap_or_default();
    let time_unit = ["s", "ms", "us", "µs", "ns", "dtdurations", "dtdurationms"].contains(&unit);
    time_unit
        || panel_targets(panel).iter().any(|target| {
            target["expr"].as_str().is_some_and(|expr| {
                dashboards::promql_metric_names(expr)
                    .iter()
                    .any(|name| name.ends_with("_seconds_bucket"))
            })
        })
}

// ---------------------------------------------------------------------------------------------
// docker-compose.yml

#[test]
fn docker_compose_config_validates() {
    let output = run("docker-compose", &["-f", COMPOSE_FILE, "config", "-q"]);
    assert_success(
        &format!("docker-compose -f {COMPOSE_FILE} config -q"),
        &output,
    );
}

#[test]
fn compose_images_are_pinned() {
    let compose = Compose::load();
    for (name, service) in compose.services() {
        let Some(image) = text(&service["image"]) else {
            assert!(
                service["build"].is_mapping() || service["build"].is_string(),
                "service `{name}` has neither an image nor a build"
            );
            continue;
        };
        let (repository, tag) = image
            .rsplit_once(':')
            .filter(|(_, tag)| !tag.contains('/'))
            .unwrap_or_else(|| panic!("service `{name}`: image `{image}` has no tag"));
        assert!(!repository.is_empty(), "service `{name}`: image `{image}`");
        assert!(
            !tag.is_empty() && tag != "latest" && !tag.contains('$'),
            "service `{name}`: image `{image}` is not pinned to a version"
        );
        assert!(
            tag.chars().any(|c| c.is_ascii_digit()),
            "service `{name}`: image `{image}` has a tag without a version number"
        );
    }
}

#[test]
fn compose_builds_the_demo_services_from_the_dockerfile() {
    let compose = Compose::load();
    let stages = dockerfile_stages();
    let (_, _, runtime) = stages.last().expect("a stage in the Dockerfile");
    let config_destination = runtime
        .iter()
        .filter(|i| i.keyword == "COPY")
        .map(|i| copy_parts(&i.args))
        .find(|(_, sources, _)| {
            sources
                .iter()
                .any(|s| s.trim_end_matches('/') == CONFIG_DIR)
        })
        .map(|(_, _, destination)| destination.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| panic!("{DOCKERFILE}: the last stage does not copy {CONFIG_DIR}"));

    for (name, _) in SERVICES {
        let build = &compose.service(name)["build"];
        let context = text(&build["context"])
            .unwrap_or_else(|| panic!("service `{name}` has no build context"));
        let context = root().join("compose").join(context);
        assert_eq!(
            canonical(&context),
            canonical(&root()),
            "service `{name}` must be built with the repository root as its context"
        );
        let dockerfile = text(&build["dockerfile"])
            .unwrap_or_else(|| panic!("service `{name}` names no dockerfile"));
        assert_eq!(
            canonical(&context.join(&dockerfile)),
            canonical(&root().join(DOCKERFILE)),
            "service `{name}` must be built from {DOCKERFILE}"
        );
        assert!(
            compose.service(name)["image"].is_null(),
            "service `{name}` is built; it pulls no image"
        );

        let command = compose.command(name);
        assert_eq!(
            command.first().map(String::as_str),
            Some(name),
            "service `{name}` must run the binary `{name}`"
        );

        let config = compose.env_var(name, "HYPERION_CONFIG");
        assert_eq!(
            config,
            format!("{config_destination}/{name}.yaml"),
            "service `{name}`: HYPERION_CONFIG must name its configuration where the Dockerfile \
             copies {CONFIG_DIR}"
        );
    }
}

#[test]
fn compose_wires_the_demo_services() {
    let compose = Compose::load();
    let services = compose.services();
    let ports: BTreeMap<&str, u16> = SERVICES.into_iter().collect();
    // The services send to the collector's OTLP gRPC receiver.
    compose.service("otel-collector");
    let collector_config = yaml(COLLECTOR_CONFIG);
    let (_, collector_grpc_port) = host_port(
        &text(&collector_config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"])
            .expect("an OTLP gRPC receiver endpoint in the collector config"),
    );
    let init_sql = read(INIT_SQL).to_ascii_lowercase();

    for (name, port) in SERVICES {
        let env = compose.env(name);
        let get = |key: &str| {
            env.get(key)
                .unwrap_or_else(|| panic!("service `{name}` does not set {key}"))
        };

        let (_, listen_port) = host_port(get("DEMO_LISTEN"));
        assert_eq!(listen_port, port, "service `{name}`: DEMO_LISTEN");
        assert!(
            get("DEMO_LISTEN").starts_with("0.0.0.0:"),
            "service `{name}` must listen on every interface of its container"
        );

        // Telemetry: OTLP to the collector's gRPC receiver.
        let (host, otlp_port) = host_port(get("OTEL_EXPORTER_OTLP_ENDPOINT"));
        assert_eq!(
            host, "otel-collector",
            "service `{name}`: OTLP endpoint host"
        );
        assert_eq!(
            otlp_port, collector_grpc_port,
            "service `{name}`: the OTLP endpoint's port is not the collector's gRPC receiver's"
        );
        assert_eq!(
            get("HYPERION_TRACING__EXPORTER"),
            "otlp",
            "service `{name}`"
        );
        assert_eq!(get("HYPERION_LOGGING__OTLP"), "true", "service `{name}`");

        // The other services' URLs name a service of this file on its port.
        for (key, target) in [
            ("USER_SERVICE_URL", "user-service"),
            ("ORDER_SERVICE_URL", "order-service"),
        ] {
            if let Some(url) = env.get(key) {
                let (host, url_port) = host_port(url);
                assert_eq!(host, target, "service `{name}`: {key}");
                assert_eq!(url_port, ports[target], "service `{name}`: {key} port");
            }
        }
        if let Some(url) = env.get("NATS_URL") {
            let (host, _) = host_port(url);
            assert!(
                services.contains_key(&host),
                "service `{name}`: NATS_URL names `{host}`, not a service"
            );
        }
        if let Some(url) = env.get("DATABASE_URL") {
            let (host, _) = host_port(url);
            assert!(
                services.contains_key(&host),
                "service `{name}`: DATABASE_URL names `{host}`, not a service"
            );
            let database = url.rsplit('/').next().unwrap_or_default();
            let database = database.split('?').next().unwrap_or_default();
            assert!(
                init_sql.contains(&format!("create database {database};")),
                "service `{name}` uses the database `{database}`, which {INIT_SQL} does not create"
            );
        }
    }
    for (name, key) in [
        ("gateway", "USER_SERVICE_URL"),
        ("gateway", "ORDER_SERVICE_URL"),
        ("order-service", "USER_SERVICE_URL"),
        ("user-service", "DATABASE_URL"),
        ("order-service", "DATABASE_URL"),
    ] {
        compose.env_var(name, key);
    }
    assert_ne!(
        compose.env_var("user-service", "DATABASE_URL"),
        compose.env_var("order-service", "DATABASE_URL"),
        "user-service and order-service have databases of their own"
    );
}

#[test]
fn compose_depends_on_defined_services() {
    let compose = Compose::load();
    let services = compose.services();
    let mut edges = 0;
    for name in services.keys() {
        for (dependency, condition) in compose.depends_on(name) {
            edges += 1;
            assert_ne!(&dependency, name, "service `{name}` depends on itself");
            let Some(target) = services.get(&dependency) else {
                panic!("service `{name}` depends on `{dependency}`, which is not defined");
            };
            if condition == "service_healthy" {
                assert!(
                    target["healthcheck"].is_mapping(),
                    "service `{name}` waits for `{dependency}` to be healthy, which has no \
                     healthcheck"
                );
            }
        }
    }
    assert!(edges > 0, "no depends_on at all");
}

#[test]
fn compose_mounts_exist() {
    let compose = Compose::load();
    let declared = keys(&compose.file["volumes"]);
    let mut binds = 0;
    for name in compose.services().keys() {
        for (source, target, bind) in compose.volumes(name) {
            if bind {
                binds += 1;
                let path = root().join("compose").join(&source);
                assert!(
                    path.exists(),
                    "service `{name}` mounts {source} (at {target}), which does not exist: {}",
                    path.display()
                );
            } else if !source.is_empty() {
                assert!(
                    declared.contains(&source),
                    "service `{name}` mounts the volume `{source}`, which is not declared"
                );
            }
        }
    }
    assert!(binds > 0, "no bind mounts at all");

    let postgres_init = compose.mount_target("postgres", INIT_SQL);
    assert!(
        postgres_init.starts_with("/docker-entrypoint-initdb.d/"),
        "postgres must run {INIT_SQL} from /docker-entrypoint-initdb.d, not {postgres_init}"
    );
}

#[test]
fn compose_prometheus_keeps_exemplars() {
    let compose = Compose::load();
    let command = compose.command("prometheus");
    let features: Vec<String> = command
        .iter()
        .filter_map(|arg| arg.strip_prefix("--enable-feature="))
        .flat_map(|list| list.split(',').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    assert!(
        features.iter().any(|f| f == "exemplar-storage"),
        "prometheus must run with --enable-feature=exemplar-storage; its command: {command:?}"
    );
    let config = flag_value(&command, "--config.file")
        .unwrap_or_else(|| panic!("prometheus has no --config.file: {command:?}"));
    assert_eq!(
        compose.mount_target("prometheus", PROMETHEUS_CONFIG),
        config,
        "prometheus must read the mounted {PROMETHEUS_CONFIG}"
    );
}

// ---------------------------------------------------------------------------------------------
// Prometheus

#[test]
fn promtool_accepts_prometheus_config() {
    let output = run("promtool", &["check", "config", PROMETHEUS_CONFIG]);
    assert_success(
        &format!("promtool check config {PROMETHEUS_CONFIG}"),
        &output,
    );
}

#[test]
fn prometheus_scrapes_the_three_services() {
    let compose = Compose::load();
    let services = compose.services();
    let config = yaml(PROMETHEUS_CONFIG);
    let mut jobs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for job in config["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs")
    {
        let name = text(&job["job_name"]).expect("a job_name");
        let path = text(&job["metrics_path"]).unwrap_or_else(|| "/metrics".to_owned());
        let targets: Vec<String> = job["static_configs"]
            .as_sequence()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .flat_map(|static_config| texts(&static_config["targets"]))
            .collect();
        for target in &targets {
            let (host, _) = host_port(target);
            assert!(
                services.contains_key(&host),
                "job `{name}` scrapes `{target}`, not a compose service"
            );
        }
        if SERVICES.iter().any(|(service, _)| *service == name) {
            assert_eq!(path, "/metrics", "job `{name}`: metrics_path");
        }
        jobs.insert(name, targets);
    }
    for (name, port) in SERVICES {
        let targets = jobs
            .get(name)
            .unwrap_or_else(|| panic!("{PROMETHEUS_CONFIG} has no job `{name}`"));
        assert_eq!(
            targets,
            &vec![format!("{name}:{port}")],
            "job `{name}` must scrape the service on its port"
        );
    }
    let interval = |value: &Yaml| text(value).unwrap_or_default();
    let global = interval(&config["global"]["scrape_interval"]);
    for job in config["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs")
    {
        let own = interval(&job["scrape_interval"]);
        let effective = if own.is_empty() { &global } else { &own };
        assert_eq!(
            effective, "5s",
            "job {:?}: scrape interval",
            job["job_name"]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// OpenTelemetry Collector

const PIPELINE_PARTS: [&str; 3] = ["receivers", "processors", "exporters"];

/// The component type of an id such as `otlp/jaeger`.
fn component_type(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

#[test]
fn collector_pipelines_use_defined_components() {
    let config = yaml(COLLECTOR_CONFIG);
    let connectors = keys(&config["connectors"]);
    let pipelines = config["service"]["pipelines"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{COLLECTOR_CONFIG} has no service.pipelines"));
    assert!(!pipelines.is_empty(), "no pipelines");
    for (name, pipeline) in pipelines {
        let name = text(name).expect("a pipeline name");
        assert!(
            ["traces", "metrics", "logs", "profiles"].contains(&component_type(&name)),
            "pipeline `{name}` is of no signal type"
        );
        for part in PIPELINE_PARTS {
            let defined = keys(&config[part]);
            let used = texts(&pipeline[part]);
            if part != "processors" {
                assert!(!used.is_empty(), "pipeline `{name}` has no {part}");
            }
            for id in used {
                let connector = part != "processors" && connectors.contains(&id);
                assert!(
                    defined.contains(&id) || connector,
                    "pipeline `{name}` uses the {part} entry `{id}`, which is not defined"
                );
            }
        }
    }
    let extensions = keys(&config["extensions"]);
    for id in texts(&config["service"]["extensions"]) {
        assert!(
            extensions.contains(&id),
            "service.extensions names `{id}`, which is not defined"
        );
    }
}

#[test]
fn collector_components_are_all_used() {
    let config = yaml(COLLECTOR_CONFIG);
    let pipelines = config["service"]["pipelines"]
        .as_mapping()
        .cloned()
        .unwrap_or_default();
    for part in PIPELINE_PARTS {
        let used: BTreeSet<String> = pipelines
            .values()
            .flat_map(|pipeline| texts(&pipeline[part]))
            .collect();
        for id in keys(&config[part]) {
            assert!(
                used.contains(&id),
                "{part} entry `{id}` is defined but no pipeline uses it"
            );
        }
    }
    let used: BTreeSet<String> = pipelines
        .values()
        .flat_map(|pipeline| [texts(&pipeline["receivers"]), texts(&pipeline["exporters"])])
        .flatten()
        .collect();
    for id in keys(&config["connectors"]) {
        assert!(used.contains(&id), "connector `{id}` is not used");
    }
    let enabled: BTreeSet<String> = texts(&config["service"]["extensions"])
        .into_iter()
        .collect();
    for id in keys(&config["extensions"]) {
        assert!(
            enabled.contains(&id),
            "extension `{id}` is defined but not in service.extensions"
        );
    }
}

#[test]
fn collector_tail_samples_errors_and_slow_traces() {
    let config = yaml(COLLECTOR_CONFIG);
    let compose = Compose::load();
    let pipelines = config["service"]["pipelines"]
        .as_mapping()
        .cloned()
        .unwrap_or_default();
    let traces = pipelines
        .iter()
        .filter(|(name, _)| text(name).is_some_and(|n| component_type(&n) == "traces"))
        .map(|(_, pipeline)| pipeline)
        .collect::<Vec<_>>();
    assert!(!traces.is_empty(), "no traces pipeline");
    for pipeline in &traces {
        let processors = texts(&pipeline["processors"]);
        let sampler = processors
            .iter()
            .find(|id| component_type(id) == "tail_sampling")
            .unwrap_or_else(|| panic!("a traces pipeline without tail_sampling: {processors:?}"));
        let policies = config["processors"][sampler.as_str()]["policies"]
            .as_sequence()
            .cloned()
            .unwrap_or_else(|| panic!("`{sampler}` has no policies"));
        let of_type = |kind: &str| {
            policies
                .iter()
                .filter(|policy| text(&policy["type"]).as_deref() == Some(kind))
                .collect::<Vec<_>>()
        };
        assert!(
            of_type("status_code").iter().any(|policy| {
                texts(&policy["status_code"]["status_codes"])
                    .iter()
                    .any(|code| code == "ERROR")
            }),
            "`{sampler}` keeps no trace with an error (a status_code policy for ERROR)"
        );
        let threshold = of_type("latency")
            .iter()
            .filter_map(|policy| policy["latency"]["threshold_ms"].as_u64())
            .filter(|ms| *ms > 0)
            .min()
            .unwrap_or_else(|| {
                panic!("`{sampler}` keeps no slow trace (a latency policy with threshold_ms)")
            });
        // The services' injected delay must cross the threshold, or the slowed-down traces are
        // sampled like the others.
        for (name, _) in SERVICES {
            if let Some(delay) = compose.env(name).get("DEMO_SLOW_MS") {
                let delay: u64 = with_default(delay).parse().unwrap_or_else(|e| {
                    panic!("service `{name}`: DEMO_SLOW_MS `{delay}` is not a number: {e}")
                });
                assert!(
                    threshold < delay,
                    "the latency policy's {threshold} ms is not below `{name}`'s DEMO_SLOW_MS \
                     ({delay} ms)"
                );
            }
        }
        assert!(
            of_type("probabilistic").iter().any(|policy| {
                policy["probabilistic"]["sampling_percentage"]
                    .as_f64()
                    .is_some_and(|p| p > 0.0 && p <= 100.0)
            }),
            "`{sampler}` keeps no share of the other traces (a probabilistic policy)"
        );
        // The memory limiter must come first to protect the collector.
        assert_eq!(
            processors.first().map(|id| component_type(id)),
            Some("memory_limiter"),
            "a traces pipeline must start with memory_limiter: {processors:?}"
        );
    }

    // Sampled traces go to Jaeger, over OTLP without TLS.
    let services = compose.services();
    let exporters: Vec<String> = traces
        .iter()
        .flat_map(|pipeline| texts(&pipeline["exporters"]))
        .collect();
    let to_jaeger = exporters.iter().any(|id| {
        let exporter = &config["exporters"][id.as_str()];
        let Some(endpoint) = text(&exporter["endpoint"]) else {
            return false;
        };
        let (host, port) = host_port(&endpoint);
        let image = services
            .get(&host)
            .and_then(|service| text(&service["image"]))
            .unwrap_or_default();
        component_type(id) == "otlp"
            && image.starts_with("jaegertracing/jaeger:")
            && port == 4317
            && exporter["tls"]["insecure"].as_bool() == Some(true)
    });
    assert!(
        to_jaeger,
        "no traces exporter sends OTLP to the Jaeger service on 4317 (tls.insecure): {exporters:?}"
    );

    // The receivers listen beyond the container's loopback.
    for protocol in ["grpc", "http"] {
        let endpoint = text(&config["receivers"]["otlp"]["protocols"][protocol]["endpoint"])
            .unwrap_or_else(|| panic!("the OTLP receiver has no {protocol} endpoint"));
        assert!(
            endpoint.starts_with("0.0.0.0:"),
            "the OTLP {protocol} receiver listens on {endpoint}, unreachable from other containers"
        );
    }

    // The collector reads this file.
    let command = compose.command("otel-collector");
    let config_flag = flag_value(&command, "--config")
        .unwrap_or_else(|| panic!("otel-collector has no --config: {command:?}"));
    assert_eq!(
        compose.mount_target("otel-collector", COLLECTOR_CONFIG),
        config_flag.trim_start_matches("file:"),
        "otel-collector must read the mounted {COLLECTOR_CONFIG}"
    );
}

// ---------------------------------------------------------------------------------------------
// Grafana

#[test]
fn grafana_datasources_are_provisioned() {
    let compose = Compose::load();
    let services = compose.services();
    let datasources = provisioned_datasources();
    let by_uid = |uid: &str| {
        datasources
            .iter()
            .find(|ds| text(&ds["uid"]).as_deref() == Some(uid))
            .unwrap_or_else(|| panic!("{DATASOURCES} has no datasource with uid `{uid}`"))
    };
    for (uid, kind, service_image, port) in [
        ("prometheus", "prometheus", "prom/prometheus:", 9090),
        ("jaeger", "jaeger", "jaegertracing/jaeger:", 16686),
    ] {
        let ds = by_uid(uid);
        assert_eq!(
            text(&ds["type"]).as_deref(),
            Some(kind),
            "datasource `{uid}`"
        );
        let url = text(&ds["url"]).unwrap_or_else(|| panic!("datasource `{uid}` has no url"));
        let (host, url_port) = host_port(&url);
        let image = services
            .get(&host)
            .and_then(|service| text(&service["image"]))
            .unwrap_or_else(|| panic!("datasource `{uid}`: `{host}` is not a compose service"));
        assert!(
            image.starts_with(service_image),
            "datasource `{uid}`: {url}"
        );
        assert_eq!(url_port, port, "datasource `{uid}`: {url}");
    }
    let uids = datasource_uids();
    assert_eq!(
        uids.len(),
        datasources.len(),
        "datasource uids must be unique"
    );

    // Exemplars' trace_id label links to a tracing datasource.
    let destinations = by_uid("prometheus")["jsonData"]["exemplarTraceIdDestinations"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    let linked = destinations.iter().any(|destination| {
        text(&destination["name"]).as_deref() == Some("trace_id")
            && text(&destination["datasourceUid"]).is_some_and(|uid| {
                uids.contains(&uid) && text(&by_uid(&uid)["type"]).as_deref() == Some("jaeger")
            })
    });
    assert!(
        linked,
        "the Prometheus datasource must link exemplars' trace_id to the Jaeger datasource: \
         {destinations:?}"
    );

    // The provisioning directory and the dashboards directory are mounted where Grafana and the
    // dashboard provider look.
    assert_eq!(
        compose.mount_target("grafana", "compose/grafana/provisioning"),
        "/etc/grafana/provisioning"
    );
    let dashboards_target = compose.mount_target("grafana", dashboards::DASHBOARDS_DIR);
    let providers = yaml(DASHBOARD_PROVIDERS);
    let providers = providers["providers"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{DASHBOARD_PROVIDERS} has no providers"));
    assert!(
        providers.iter().any(|provider| {
            text(&provider["type"]).as_deref() == Some("file")
                && text(&provider["options"]["path"]).as_deref() == Some(&dashboards_target)
        }),
        "no file provider in {DASHBOARD_PROVIDERS} reads {dashboards_target}"
    );
    if let Some(home) = compose
        .env("grafana")
        .get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    {
        let file = home
            .strip_prefix(&format!("{dashboards_target}/"))
            .unwrap_or_else(|| panic!("the home dashboard {home} is not a provisioned one"));
        assert!(
            root().join(dashboards::DASHBOARDS_DIR).join(file).is_file(),
            "the home dashboard {home} does not exist"
        );
    }
}

#[test]
fn dashboards_use_provisioned_datasources() {
    let uids = datasource_uids();
    let mut dashboard_uids = BTreeSet::new();
    let mut targets = 0;
    for (file, dashboard) in dashboards::load_dashboards(&root()) {
        let uid = dashboard["uid"]
            .as_str()
            .unwrap_or_else(|| panic!("{} has no uid", file.display()));
        assert!(
            dashboard_uids.insert(uid.to_owned()),
            "two dashboards have the uid `{uid}`"
        );
        assert!(
            dashboard["title"].is_string(),
            "{} has no title",
            file.display()
        );
        let panels = panels(&dashboard);
        assert!(!panels.is_empty(), "{} has no panel", file.display());
        for panel in panels {
            let name = panel_name(&file, panel);
            if panel["type"] == "row" {
                continue;
            }
            let panel_uid = panel["datasource"]["uid"]
                .as_str()
                .unwrap_or_else(|| panic!("{name} names no datasource uid"));
            assert!(
                uids.contains(panel_uid),
                "{name} uses the datasource `{panel_uid}`, which is not provisioned"
            );
            assert!(!panel_targets(panel).is_empty(), "{name} has no query");
            for target in panel_targets(panel) {
                targets += 1;
                let target_uid = target["datasource"]["uid"].as_str().unwrap_or(panel_uid);
                assert!(
                    uids.contains(target_uid),
                    "{name} has a query on the datasource `{target_uid}`, which is not \
                     provisioned"
                );
                if target_uid == "prometheus" {
                    let expr = target["expr"].as_str().unwrap_or_default();
                    assert!(!expr.trim().is_empty(), "{name} has an empty query");
                    assert!(
                        !dashboards::promql_metric_names(expr).is_empty(),
                        "{name}: `{expr}` queries no metric"
                    );
                }
            }
        }
    }
    assert!(targets > 0, "no dashboard query at all");
}

#[test]
fn dashboard_duration_panels_show_exemplars() {
    let mut with_durations = BTreeSet::new();
    for (file, dashboard) in dashboards::load_dashboards(&root()) {
        for panel in panels(&dashboard) {
            if !is_duration_panel(panel) {
                continue;
            }
            with_durations.insert(dashboard["uid"].as_str().unwrap_or_default().to_owned());
            for target in panel_targets(panel) {
                assert_eq!(
                    target["exemplar"],
                    Json::Bool(true),
                    "{}: query {} must show exemplars",
                    panel_name(&file, panel),
                    target["refId"]
                );
            }
        }
    }
    for uid in [
        "hyperion-services",
        "hyperion-database",
        "hyperion-intercepted-calls",
    ] {
        assert!(
            with_durations.contains(uid),
            "the dashboard `{uid}` has no duration panel (with exemplars)"
        );
    }
}

#[test]
fn dashboard_metric_names_include_http_server_duration() {
    let names = dashboards::dashboard_metric_names(&root());
    assert!(!names.is_empty(), "the dashboards query no metric");
    for name in &names {
        let mut chars = name.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
        assert!(valid, "`{name}` is not a Prometheus metric name");
    }
    for expected in [
        "http_server_request_duration_seconds_bucket",
        "http_server_request_duration_seconds_count",
    ] {
        assert!(names.contains(expected), "{expected} not in {names:?}");
    }
    let families = dashboards::dashboard_metric_families(&root());
    assert!(
        families.contains("http_server_request_duration_seconds"),
        "{families:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Dockerfile, configurations, README

#[test]
fn dockerfile_builds_the_demo_binaries() {
    let stages = dockerfile_stages();
    assert!(
        stages.len() >= 2,
        "{DOCKERFILE} must be a multi-stage build"
    );
    let (builder_image, builder_name, builder) = &stages[0];
    let builder_name = builder_name
        .as_deref()
        .unwrap_or_else(|| panic!("{DOCKERFILE}: the build stage has no name"));

    // A Rust image recent enough for the workspace, on the runtime's Debian release.
    let tag = builder_image
        .strip_prefix("rust:")
        .unwrap_or_else(|| panic!("{DOCKERFILE}: the build stage is `{builder_image}`"));
    let (version, distribution) = tag
        .split_once('-')
        .unwrap_or_else(|| panic!("`{builder_image}` names no Debian release"));
    let needed = workspace_rust_version();
    assert!(
        major_minor(version) >= needed,
        "`{builder_image}` is older than the workspace's rust-version {needed:?}"
    );
    let (runtime_image, _, runtime) = stages.last().expect("a runtime stage");
    assert!(
        runtime_image.starts_with(&format!("debian:{distribution}")),
        "the runtime `{runtime_image}` must be the Debian release the binaries are built on \
         ({distribution})"
    );

    let build = builder
        .iter()
        .find(|i| i.keyword == "RUN" && i.args.contains("cargo build"))
        .unwrap_or_else(|| panic!("{DOCKERFILE}: no `cargo build` in the build stage"));
    let words: Vec<&str> = build.args.split_whitespace().collect();
    let package = words
        .windows(2)
        .any(|pair| matches!(pair, ["-p" | "--package", "hyperion-demo"]))
        || words
            .iter()
            .any(|w| *w == "-phyperion-demo" || *w == "--package=hyperion-demo");
    assert!(
        package,
        "the build must name -p hyperion-demo: {}",
        build.args
    );
    for flag in ["--release", "--locked"] {
        assert!(
            words.contains(&flag),
            "the build lacks {flag}: {}",
            build.args
        );
    }
    let all_bins = words.contains(&"--bins")
        || BINARIES
            .iter()
            .all(|bin| words.windows(2).any(|pair| pair == ["--bin", bin]));
    assert!(
        all_bins,
        "the build must build every binary: {}",
        build.args
    );

    let copied: BTreeSet<String> = runtime
        .iter()
        .filter(|i| i.keyword == "COPY")
        .map(|i| copy_parts(&i.args))
        .filter(|(flags, _, _)| flags.iter().any(|f| *f == format!("--from={builder_name}")))
        .flat_map(|(_, sources, _)| sources)
        .filter_map(|source| {
            Path::new(&source)
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .collect();
    for binary in BINARIES {
        assert!(
            copied.contains(binary),
            "the runtime stage does not copy `{binary}` from `{builder_name}`: {copied:?}"
        );
    }
    assert!(
        runtime
            .iter()
            .any(|i| i.keyword == "RUN" && i.args.contains("ca-certificates")),
        "the runtime stage must install ca-certificates"
    );
    assert!(
        runtime.iter().any(|i| i.keyword == "COPY"
            && copy_parts(&i.args)
                .1
                .iter()
                .any(|s| s.trim_end_matches('/') == CONFIG_DIR)),
        "the runtime stage must copy {CONFIG_DIR}"
    );
}

#[test]
fn dockerignore_keeps_build_outputs_out() {
    let patterns: BTreeSet<String> = read(DOCKERIGNORE)
        .lines()
        .map(|line| line.trim().trim_end_matches('/').to_owned())
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    for needed in ["target", "**/target", ".git"] {
        assert!(
            patterns.contains(needed),
            "{DOCKERIGNORE} must exclude `{needed}`"
        );
    }
}

#[test]
fn demo_configs_exist() {
    let compose = Compose::load();
    for (name, _) in SERVICES {
        let config = compose.env_var(name, "HYPERION_CONFIG");
        let file = Path::new(&config)
            .file_name()
            .unwrap_or_else(|| panic!("HYPERION_CONFIG `{config}` names no file"));
        let path = root().join(CONFIG_DIR).join(file);
        assert!(
            path.is_file(),
            "service `{name}` reads {config} in the image, copied from {}, which does not exist",
            path.display()
        );
    }
}

#[test]
fn readme_documents_the_stack() {
    let readme = read(README);
    for needed in [
        "docker compose -f compose/docker-compose.yml up --build",
        "http://localhost:3000",
        "http://localhost:16686",
        "http://localhost:9090",
        "http://localhost:8080",
        "cargo run -p hyperion-demo --bin demo -- load",
    ] {
        assert!(
            readme.contains(needed),
            "{README} does not mention `{needed}`"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The PromQL name extraction used for the dashboards

fn names(expr: &str) -> Vec<String> {
    dashboards::promql_metric_names(expr).into_iter().collect()
}

#[test]
fn promql_names_skip_functions_and_label_matchers() {
    assert_eq!(
        names(
            r#"rate(http_server_request_duration_seconds_count{job="gateway", http_route=~"/a|/b"}[5m])"#
        ),
        ["http_server_request_duration_seconds_count"]
    );
    assert_eq!(names("up"), ["up"]);
    assert_eq!(
        names(r#"sum(rate(a_total{outcome!~"ok|}{,", x!="y"}[1m])) by (job) > bool 0"#),
        ["a_total"]
    );
}

#[test]
fn promql_names_skip_grouping_labels() {
    assert_eq!(
        names(
            "histogram_quantile(0.99, sum by (le, job, http_route) \
             (rate(http_server_request_duration_seconds_bucket[$__rate_interval])))"
        ),
        ["http_server_request_duration_seconds_bucket"]
    );
    assert_eq!(
        names(
            "sum without (instance) (rate(a_total[5m])) / on (job) group_left (team) \
             max by (job, team) (b_info)"
        ),
        ["a_total", "b_info"]
    );
    assert_eq!(
        names("count_values(\"version\", build_info) or ignoring(le) c_sum unless d_count"),
        ["build_info", "c_sum", "d_count"]
    );
    assert_eq!(
        names("a * on(x) group_left b + sum(c) without(d)"),
        ["a", "b", "c"]
    );
}

#[test]
fn promql_names_skip_numbers_durations_keywords_and_variables() {
    assert_eq!(names("1e-3 * 0.5 + Inf - NaN + 0x1f"), Vec::<String>::new());
    assert_eq!(
        names("max_over_time(x[10m:1m] offset 5m) and y @ start() or z @ 1700000000"),
        ["x", "y", "z"]
    );
    assert_eq!(
        names(r#"rate(a_total{job=~"$job"}[$__rate_interval]) * ${factor} + $other"#),
        ["a_total"]
    );
    assert_eq!(names("# a comment naming not_a_metric\nm"), ["m"]);
}

#[test]
fn promql_names_from_name_matchers() {
    assert_eq!(names(r#"{__name__="up", job="x"}"#), ["up"]);
    assert_eq!(
        names(r#"{"http.server.duration", job="x"}"#),
        ["http.server.duration"]
    );
    assert_eq!(names(r#"{__name__=~"up|down"}"#), Vec::<String>::new());
}

#[test]
fn metric_families_strip_sample_suffixes() {
    for (name, family) in [
        (
            "http_server_request_duration_seconds_bucket",
            "http_server_request_duration_seconds",
        ),
        (
            "http_server_request_duration_seconds_count",
            "http_server_request_duration_seconds",
        ),
        ("orders_value_sum", "orders_value"),
        ("hyperion_intercept_calls_total", "hyperion_intercept_calls"),
        ("orders_created_created", "orders_created"),
        ("http_server_active_requests", "http_server_active_requests"),
        ("_total", "_total"),
    ] {
        assert_eq!(dashboards::family(name), family, "{name}");
    }
}

#[test]
fn dashboard_queries_include_targets_rows_and_variables() {
    let dashboard = serde_json::json!({
        "panels": [
            {"type": "timeseries", "targets": [{"expr": "rate(a_total[5m])"}]},
            {"type": "row", "panels": [
                {"type": "timeseries", "targets": [{"expr": "b_bucket"}]}
            ]}
        ],
        "annotations": {"list": [{"expr": "changes(c_created[1m])"}]},
        "templating": {"list": [
            {"type": "query", "query": "label_values(d_count{job=\"x\", y=\"a,b\"}, instance)"},
            {"type": "query", "query": {"query": "query_result(topk(5, e_sum))", "refId": "V"}},
            {"type": "query", "query": "label_values(job)"},
            {"type": "custom", "query": "not_a_query"}
        ]}
    });
    let found: BTreeSet<String> = dashboards::dashboard_queries(&dashboard)
        .iter()
        .flat_map(|expr| dashboards::promql_metric_names(expr))
        .collect();
    let expected: BTreeSet<String> = ["a_total", "b_bucket", "c_created", "d_count", "e_sum"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(found, expected);
}
