//! `AgentId` (tenant, app, agent) and `Namespace` (an agent plus one of its runs).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, NamespaceProblem, Result};
use crate::limits::NAMESPACE_PART_BYTES_MAX;
use crate::run_id::RunId;

/// One agent: the (tenant, app, agent) triple whose runs share a memory.
///
/// Construction never fails, so that literals read cleanly; every database operation that takes
/// one calls [`AgentId::validate`] and returns a typed error for a bad name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AgentId {
    tenant: String,
    app: String,
    agent: String,
}

impl AgentId {
    /// The agent that [`Namespace`]-less calls such as `Database::begin_run()` use.
    pub const DEFAULT_PART: &'static str = "default";

    /// An agent id from its three names. See [`AgentId::validate`] for what a name may hold.
    pub fn new(
        tenant: impl Into<String>,
        app: impl Into<String>,
        agent: impl Into<String>,
    ) -> Self {
        AgentId {
            tenant: tenant.into(),
            app: app.into(),
            agent: agent.into(),
        }
    }

    /// An agent id that is known to be valid.
    pub fn try_new(
        tenant: impl Into<String>,
        app: impl Into<String>,
        agent: impl Into<String>,
    ) -> Result<Self> {
        let id = Self::new(tenant, app, agent);
        id.validate()?;
        Ok(id)
    }

    /// `default/default/default`.
    pub fn default_agent() -> Self {
        Self::new(Self::DEFAULT_PART, Self::DEFAULT_PART, Self::DEFAULT_PART)
    }

    /// The tenant name.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The application name.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// The agent name.
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// Checks each name: non-empty, at most [`NAMESPACE_PART_BYTES_MAX`] bytes, no control
    /// characters (0x00 would break the key encoding; the others make names unprintable).
    pub fn validate(&self) -> Result<()> {
        validate_part("tenant", &self.tenant)?;
        validate_part("app", &self.app)?;
        validate_part("agent", &self.agent)
    }

    /// Appends the memcomparable encoding: each name followed by a 0x00 terminator.
    ///
    /// Because names hold no 0x00, a shorter name sorts before any longer name it prefixes, so
    /// byte order of encodings equals the order of (tenant, app, agent).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        for part in [&self.tenant, &self.app, &self.agent] {
            out.extend_from_slice(part.as_bytes());
            out.push(0);
        }
    }

    /// The memcomparable encoding; every key of this agent starts with it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.tenant.len() + self.app.len() + self.agent.len() + 3);
        self.encode_into(&mut out);
        out
    }

    /// The start of the encoding of every agent of `tenant` (and of `app` in it, if given), and
    /// of no other agent: the names so far, each with its terminator.
    pub fn encoded_prefix(tenant: &str, app: Option<&str>) -> Vec<u8> {
        let mut out = Vec::with_capacity(tenant.len() + app.map_or(0, str::len) + 2);
        for part in std::iter::once(tenant).chain(app) {
            out.extend_from_slice(part.as_bytes());
            out.push(0);
        }
        out
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.tenant, self.app, self.agent)
    }
}

fn validate_part(part: &'static str, value: &str) -> Result<()> {
    let problem = if value.is_empty() {
        NamespaceProblem::Empty
    } else if value.len() > NAMESPACE_PART_BYTES_MAX {
        NamespaceProblem::TooLong
    } else if value.bytes().any(|b| b < 0x20 || b == 0x7f) {
        NamespaceProblem::ControlCharacter
    } else {
        return Ok(());
    };
    Err(Error::InvalidNamespace {
        part,
        value: value.to_owned(),
        problem,
    })
}

/// Where data lives: a tenant, app and agent, and one run of that agent.
///
/// Ordered by tenant, then app, then agent, then run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Namespace {
    agent: AgentId,
    run: RunId,
}

impl Namespace {
    /// A namespace for run `run` of agent `tenant/app/agent`.
    ///
    /// ```
    /// use in_mem_core_types::{Namespace, RunId};
    /// let ns = Namespace::new("tenant1", "my-app", "agent-v1", RunId::new());
    /// assert_eq!(ns.tenant(), "tenant1");
    /// ```
    pub fn new(
        tenant: impl Into<String>,
        app: impl Into<String>,
        agent: impl Into<String>,
        run: RunId,
    ) -> Self {
        Namespace {
            agent: AgentId::new(tenant, app, agent),
            run,
        }
    }

    /// A namespace for `run` of `agent`.
    pub fn for_run(agent: AgentId, run: RunId) -> Self {
        Namespace { agent, run }
    }

    /// The agent's shared memory: the namespace whose run is [`RunId::NIL`].
    pub fn agent_memory(agent: AgentId) -> Self {
        Namespace {
            agent,
            run: RunId::NIL,
        }
    }

    /// The tenant name.
    pub fn tenant(&self) -> &str {
        self.agent.tenant()
    }

    /// The application name.
    pub fn app(&self) -> &str {
        self.agent.app()
    }

    /// The agent name.
    pub fn agent(&self) -> &str {
        self.agent.agent()
    }

    /// The agent this namespace belongs to.
    pub fn agent_id(&self) -> &AgentId {
        &self.agent
    }

    /// The run.
    pub fn run(&self) -> RunId {
        self.run
    }

    /// Checks the three names (see [`AgentId::validate`]).
    pub fn validate(&self) -> Result<()> {
        self.agent.validate()
    }

    /// Appends the memcomparable encoding: the agent's encoding, then the 16 run id bytes.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        self.agent.encode_into(out);
        out.extend_from_slice(&self.run.to_bytes());
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.agent, self.run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoded_prefix_starts_exactly_its_tenants_and_apps_agents() {
        let agent = AgentId::new("acme", "mail", "bot").encode();
        assert!(agent.starts_with(&AgentId::encoded_prefix("acme", None)));
        assert!(agent.starts_with(&AgentId::encoded_prefix("acme", Some("mail"))));
        assert!(!agent.starts_with(&AgentId::encoded_prefix("acm", None)));
        assert!(!agent.starts_with(&AgentId::encoded_prefix("acme", Some("mai"))));
    }

    #[test]
    fn bad_names_are_typed_errors_naming_the_part() {
        let cases = [
            (
                AgentId::new("", "a", "b"),
                "tenant",
                NamespaceProblem::Empty,
            ),
            (
                AgentId::new("t", "a\0pp", "b"),
                "app",
                NamespaceProblem::ControlCharacter,
            ),
            (
                AgentId::new("t", "a", "x".repeat(129)),
                "agent",
                NamespaceProblem::TooLong,
            ),
            (
                AgentId::new("t", "a", "tab\there"),
                "agent",
                NamespaceProblem::ControlCharacter,
            ),
        ];
        for (id, want_part, want_problem) in cases {
            match id.validate() {
                Err(Error::InvalidNamespace { part, problem, .. }) => {
                    assert_eq!((part, problem), (want_part, want_problem), "{id:?}");
                }
                other => panic!("{id:?}: expected an error, got {other:?}"),
            }
        }
        assert!(
            AgentId::new("tenant1", "my-app", "agent-v1")
                .validate()
                .is_ok()
        );
        assert!(AgentId::new("t", "a", "x".repeat(128)).validate().is_ok());
    }

    #[test]
    fn encoding_order_matches_name_order() {
        let pairs = [
            (AgentId::new("a", "x", "x"), AgentId::new("ab", "a", "a")),
            (AgentId::new("a", "a", "z"), AgentId::new("a", "b", "a")),
            (AgentId::new("t", "app", "a"), AgentId::new("t", "app", "b")),
        ];
        for (lo, hi) in pairs {
            assert!(lo < hi);
            assert!(lo.encode() < hi.encode(), "{lo} vs {hi}");
        }
    }
}
