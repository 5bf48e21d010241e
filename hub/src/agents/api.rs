//! The agents room's side of the HTTP API: [`AgentsService`] implements
//! [`AgentsApi`](xt_mobile_api::AgentsApi).

use crate::api::{AgentsDial, internal, utc, utc_opt};
use crate::hub::Hub;
use crate::store::AgentRecord;
use std::sync::Arc;
use std::time::Duration;
use xt_mobile_api::AgentsApi;
use xt_mobile_api::{AgentView, ApiError, SourceView, TokenCreated, TokenRequest};
use xt_shared::ids::{AgentId, TenantId};

/// The agents room's service: lists and revokes agents, makes enrollment tokens.
pub struct AgentsService {
    hub: Arc<Hub>,
    dial: AgentsDial,
}

impl AgentsService {
    pub fn new(hub: Arc<Hub>, dial: AgentsDial) -> AgentsService {
        AgentsService { hub, dial }
    }
}

impl AgentsApi for AgentsService {
    fn list_agents(&self, tenant: &TenantId) -> Result<Vec<AgentView>, ApiError> {
        self.hub
            .store()
            .agents(tenant)
            .map_err(internal)?
            .into_iter()
            .map(|(id, r)| self.view(id, r))
            .collect()
    }

    fn revoke_agent(&self, tenant: &TenantId, agent: &AgentId) -> Result<AgentView, ApiError> {
        match self.hub.revoke(tenant, agent).map_err(internal)? {
            Some(r) => self.view(agent.clone(), r),
            None => Err(ApiError::NotFound(format!("agent {agent} not found"))),
        }
    }

    fn create_enrollment_token(
        &self,
        tenant: &TenantId,
        req: &TokenRequest,
    ) -> Result<TokenCreated, ApiError> {
        let ttl = Duration::from_secs(req.ttl_secs_checked()?);
        let (token, expires_at) = self
            .hub
            .create_token(tenant, &req.site, req.role, ttl)
            .map_err(internal)?;
        Ok(TokenCreated {
            token,
            ca_fingerprint: self.hub.ca().fingerprint(),
            expires_at: utc(expires_at)?,
            tenant: tenant.clone(),
            site: req.site.clone(),
            role: req.role,
            quic_port: self.dial.quic_port,
            agent_address: self.dial.address.clone(),
        })
    }
}

impl AgentsService {
    fn view(&self, id: AgentId, r: AgentRecord) -> Result<AgentView, ApiError> {
        let sources = self
            .hub
            .store()
            .origins(&r.tenant, &id)
            .map_err(internal)?
            .into_iter()
            .map(|(source, o)| SourceView {
                source,
                applied_seq: o.applied_seq,
                records_applied: o.records_applied,
                records_quarantined: o.reported_quarantined,
                records_rejected: o.records_rejected,
                backlog: o.reported_backlog,
                last_error: o.last_error,
            })
            .collect();
        let live = self.hub.live_since(&id);
        Ok(AgentView {
            connected: live.is_some(),
            last_seen: if live.is_some() {
                Some(utc(crate::hub::now_ms())?)
            } else {
                utc_opt(r.last_seen)?
            },
            id,
            tenant: r.tenant,
            site: r.site,
            role: r.role,
            enrolled_at: utc(r.enrolled_at)?,
            cert_expires_at: utc(r.cert_not_after)?,
            revoked_at: utc_opt(r.revoked_at)?,
            sources,
        })
    }
}
