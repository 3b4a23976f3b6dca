//! The role × RPC policy, in the style of gRPC's authorization policy: deny rules win, then
//! allow rules; a call no rule allows is denied. Principals are role names, paths are exact
//! methods (`/yimen.v1.IntakeService/GetCase`) or a prefix ending in `/*`.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use super::Role;

const EMBEDDED: &str = include_str!("policy.json");

/// Which roles may call which methods.
#[derive(Clone, Debug)]
pub struct Policy {
    name: String,
    deny: Vec<Rule>,
    allow: Vec<Rule>,
}

#[derive(Clone, Debug)]
struct Rule {
    /// None: every role.
    roles: Option<BTreeSet<Role>>,
    /// None: every method.
    paths: Option<Vec<PathPattern>>,
}

#[derive(Clone, Debug)]
enum PathPattern {
    Exact(String),
    /// What a method must start with (`/yimen.v1.IntakeService/`; `/` for `/*`).
    Prefix(String),
}

impl PathPattern {
    fn parse(path: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "path `{path}`: expected `/package.Service/Method`, `/package.Service/*` or `/*`"
            )
        };
        let rest = path.strip_prefix('/').ok_or_else(bad)?;
        if let Some(service) = rest.strip_suffix("/*") {
            if service.is_empty() || service.contains(['*', '/']) {
                return Err(bad());
            }
            return Ok(PathPattern::Prefix(path[..path.len() - 1].to_string()));
        }
        if rest == "*" {
            return Ok(PathPattern::Prefix("/".into()));
        }
        match rest.split_once('/') {
            Some((service, method))
                if !service.is_empty()
                    && !method.is_empty()
                    && !method.contains('/')
                    && !rest.contains('*') =>
            {
                Ok(PathPattern::Exact(path.to_string()))
            }
            _ => Err(bad()),
        }
    }

    fn matches(&self, method: &str) -> bool {
        match self {
            PathPattern::Exact(p) => p == method,
            PathPattern::Prefix(p) => method.starts_with(p.as_str()),
        }
    }
}

impl Rule {
    fn matches(&self, method: &str, role: Role) -> bool {
        self.roles.as_ref().is_none_or(|r| r.contains(&role))
            && self
                .paths
                .as_ref()
                .is_none_or(|p| p.iter().any(|p| p.matches(method)))
    }
}

/// The file's shape.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    name: String,
    #[serde(default)]
    deny_rules: Vec<RuleFile>,
    #[serde(default)]
    allow_rules: Vec<RuleFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    name: String,
    source: Option<SourceFile>,
    request: Option<RequestFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceFile {
    principals: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestFile {
    paths: Vec<String>,
}

impl Policy {
    /// The default policy, `services/platform/src/auth/policy.json`.
    pub fn embedded() -> Policy {
        // The embedded file is part of the build and a test parses it.
        Policy::parse(EMBEDDED).expect("the embedded policy parses")
    }

    pub fn from_file(path: &Path) -> anyhow::Result<Policy> {
        let json = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the policy {}", path.display()))?;
        Policy::parse(&json).with_context(|| format!("policy {}", path.display()))
    }

    /// From the policy's JSON text; every unknown role and malformed path is named at once.
    pub fn parse(json: &str) -> anyhow::Result<Policy> {
        let file: PolicyFile = serde_json::from_str(json).context("not a policy")?;
        let mut errors = Vec::new();
        let mut rules = |rules: Vec<RuleFile>, kind: &str| -> Vec<Rule> {
            rules
                .into_iter()
                .map(|rule| {
                    let mut fail =
                        |why: String| errors.push(format!("{kind} `{}`: {why}", rule.name));
                    let roles = rule.source.map(|s| {
                        s.principals
                            .iter()
                            .filter_map(|p| p.parse::<Role>().map_err(|e| fail(e.to_string())).ok())
                            .collect()
                    });
                    let paths = rule.request.map(|r| {
                        r.paths
                            .iter()
                            .filter_map(|p| PathPattern::parse(p).map_err(&mut fail).ok())
                            .collect()
                    });
                    Rule { roles, paths }
                })
                .collect()
        };
        let deny = rules(file.deny_rules, "deny rule");
        let allow = rules(file.allow_rules, "allow rule");
        anyhow::ensure!(errors.is_empty(), "{}", errors.join("; "));
        Ok(Policy {
            name: file.name,
            deny,
            allow,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `role` may call `method` (`/yimen.v1.IntakeService/GetCase`); if not, the roles
    /// that may.
    pub fn decide(&self, method: &str, role: Role) -> Result<(), Vec<Role>> {
        if self.allows(method, role) {
            Ok(())
        } else {
            Err(Role::ALL
                .into_iter()
                .filter(|r| self.allows(method, *r))
                .collect())
        }
    }

    fn allows(&self, method: &str, role: Role) -> bool {
        !self.deny.iter().any(|r| r.matches(method, role))
            && self.allow.iter().any(|r| r.matches(method, role))
    }
}

/// Every RPC of the services in an encoded `FileDescriptorSet` (such as
/// `yimen_proto::FILE_DESCRIPTOR_SET`), as the paths the policy names: `/package.Service/Method`.
pub fn rpc_methods(file_descriptor_set: &[u8]) -> anyhow::Result<Vec<String>> {
    use prost::Message;
    let set = prost_types::FileDescriptorSet::decode(file_descriptor_set)
        .context("not an encoded FileDescriptorSet")?;
    let mut methods = Vec::new();
    for file in &set.file {
        let package = file.package();
        for service in &file.service {
            let service_name = match package {
                "" => service.name().to_string(),
                package => format!("{package}.{}", service.name()),
            };
            for method in &service.method {
                methods.push(format!("/{service_name}/{}", method.name()));
            }
        }
    }
    Ok(methods)
}

/// The role × method matrix as a Markdown table: a row per method, grouped under a heading row
/// per service, a column per role, ✓ where the policy allows the call.
pub fn matrix_markdown(policy: &Policy, methods: &[String]) -> String {
    let mut out = String::from("| Method |");
    for role in Role::ALL {
        out.push_str(&format!(" {role} |"));
    }
    out.push_str("\n|---|");
    out.push_str(&":-:|".repeat(Role::ALL.len()));
    out.push('\n');
    let mut sorted: Vec<&String> = methods.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut current_service = None;
    for method in sorted {
        let path = method.trim_start_matches('/');
        let (service, name) = path.rsplit_once('/').unwrap_or(("", path));
        if current_service != Some(service) {
            out.push_str(&format!(
                "| **{service}** |{}\n",
                " |".repeat(Role::ALL.len())
            ));
            current_service = Some(service);
        }
        let full = format!("/{path}");
        out.push_str(&format!("| {name} |"));
        for role in Role::ALL {
            let mark = if policy.decide(&full, role).is_ok() {
                " ✓ |"
            } else {
                " |"
            };
            out.push_str(mark);
        }
        out.push('\n');
    }
    out
}
