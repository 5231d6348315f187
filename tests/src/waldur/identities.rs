//! Agent identities, services and processors (§5.1, §8 pairs 5–8).

use serde_json::{Value, json};
use uuid::Uuid;

use super::body::Form;
use super::context::Ctx;
use super::pagination::paginate;
use super::query::Filters;
use super::reply::{Reply, Res};
use super::state::{Identity, Principal, Processor, Service, State};
use super::util::{fmt_dt, hex, object, opt_dt, parse_uuid, py_type};

pub(crate) const MINIMUM_AGENT_VERSION: (u64, u64, u64) = (1, 0, 2);

fn semver(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.trim().trim_start_matches('v');
    let core = core.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor, patch))
}

fn compatibility(version: &str) -> Value {
    let (a, b, c) = MINIMUM_AGENT_VERSION;
    let minimum = format!("{a}.{b}.{c}");
    match semver(version) {
        None => {
            json!({"status": "unknown", "message": "Cannot parse version", "minimum_required": minimum})
        }
        Some(v) if v < MINIMUM_AGENT_VERSION => json!({
            "status": "incompatible",
            "message": format!("Agent version {version} is older than the minimum required version {minimum}."),
            "minimum_required": minimum,
        }),
        Some(_) => json!({"status": "compatible", "message": "", "minimum_required": minimum}),
    }
}

fn render_processor(st: &State, p: &Processor, origin: &str) -> Value {
    let service = st.services.iter().find(|s| s.uuid == p.service);
    object(vec![
        ("uuid", json!(hex(&p.uuid))),
        (
            "url",
            json!(format!(
                "{origin}/api/marketplace-site-agent-processors/{}/",
                hex(&p.uuid)
            )),
        ),
        ("service", json!(hex(&p.service))),
        ("service_name", json!(service.map(|s| s.name.clone()))),
        ("name", json!(p.name)),
        ("backend_type", json!(p.backend_type)),
        ("backend_version", json!(p.backend_version)),
        ("last_run", Value::Null),
        ("created", json!(fmt_dt(&p.created))),
        ("modified", json!(fmt_dt(&p.modified))),
    ])
}

fn render_service(st: &State, s: &Service, origin: &str) -> Value {
    let identity = st.identities.iter().find(|i| i.uuid == s.identity);
    let processors: Vec<Value> = st
        .processors
        .iter()
        .filter(|p| p.service == s.uuid)
        .map(|p| render_processor(st, p, origin))
        .collect();
    object(vec![
        ("uuid", json!(hex(&s.uuid))),
        (
            "url",
            json!(format!(
                "{origin}/api/marketplace-site-agent-services/{}/",
                hex(&s.uuid)
            )),
        ),
        ("identity", json!(hex(&s.identity))),
        ("identity_name", json!(identity.map(|i| i.name.clone()))),
        ("name", json!(s.name)),
        ("mode", json!(s.mode)),
        ("state", json!("Active")),
        ("statistics", s.statistics.clone()),
        ("processors", Value::Array(processors)),
        ("created", json!(fmt_dt(&s.created))),
        ("modified", json!(fmt_dt(&s.modified))),
    ])
}

fn render_identity(st: &State, i: &Identity, origin: &str) -> Value {
    let services: Vec<Value> = st
        .services
        .iter()
        .filter(|s| s.identity == i.uuid)
        .map(|s| render_service(st, s, origin))
        .collect();
    object(vec![
        ("uuid", json!(hex(&i.uuid))),
        (
            "url",
            json!(format!(
                "{origin}/api/marketplace-site-agent-identities/{}/",
                hex(&i.uuid)
            )),
        ),
        ("offering", json!(hex(&i.offering))),
        ("created_by", json!(hex(&i.created_by))),
        ("name", json!(i.name)),
        ("version", json!(i.version)),
        ("dependencies", i.dependencies.clone()),
        ("config_file_path", json!(i.config_file_path)),
        ("config_file_content", json!(i.config_file_content)),
        ("last_restarted", opt_dt(&i.last_restarted)),
        ("created", json!(fmt_dt(&i.created))),
        ("modified", json!(fmt_dt(&i.modified))),
        ("services", Value::Array(services)),
        ("compatibility", compatibility(&i.version)),
    ])
}

fn find_identity(st: &State, id: &str) -> Res<usize> {
    parse_uuid(id)
        .and_then(|u| st.identities.iter().position(|i| i.uuid == u))
        .ok_or_else(Reply::not_found)
}

fn find_service(st: &State, id: &str) -> Res<usize> {
    parse_uuid(id)
        .and_then(|u| st.services.iter().position(|s| s.uuid == u))
        .ok_or_else(Reply::not_found)
}

pub(crate) fn list(st: &State, ctx: &Ctx) -> Res<Reply> {
    let mut f = Filters::new(&ctx.query);
    let name = f.string("name");
    let offering = f.uuid("offering_uuid");
    f.finish()?;
    let items = st
        .identities
        .iter()
        .filter(|i| name.as_ref().is_none_or(|n| &i.name == n))
        .filter(|i| offering.is_none_or(|o| i.offering == o))
        .map(|i| render_identity(st, i, &ctx.origin))
        .collect();
    Ok(paginate(ctx, items))
}

pub(crate) fn detail(st: &State, ctx: &Ctx, id: &str) -> Res<Reply> {
    let i = find_identity(st, id)?;
    Ok(ctx.detail(render_identity(st, &st.identities[i], &ctx.origin)))
}

/// Validated AgentIdentityRequest fields.
struct IdentityFields {
    offering: Option<Uuid>,
    name: Option<String>,
    version: String,
    dependencies: Value,
    last_restarted: Option<chrono::DateTime<chrono::Utc>>,
    config_file_path: String,
    config_file_content: String,
}

fn identity_fields(st: &State, form: &mut Form) -> IdentityFields {
    let offering = form.related_uuid("offering", true);
    if let Some(u) = offering
        && st.offering(&u).is_none()
    {
        form.does_not_exist("offering", &u);
    }
    let name = form.string("name", true, false);
    let version = form.string("version", false, true).unwrap_or_default();
    let dependencies = match form.raw("dependencies").cloned() {
        None => json!([]),
        Some(Value::Array(items)) => {
            let ok = items.iter().all(|d| {
                d.get("package").is_some_and(Value::is_string)
                    && d.get("version").is_some_and(Value::is_string)
            });
            if !ok {
                form.error(
                    "dependencies",
                    "Each dependency must be an object with string \"package\" and \"version\".",
                );
            }
            Value::Array(items)
        }
        Some(other) => {
            form.error(
                "dependencies",
                format!(
                    "Expected a list of items but got type \"{}\".",
                    py_type(&other)
                ),
            );
            json!([])
        }
    };
    let last_restarted = match form.raw("last_restarted") {
        Some(Value::Null) | None => None,
        Some(_) => form.datetime("last_restarted", false),
    };
    IdentityFields {
        offering,
        name,
        version,
        dependencies,
        last_restarted,
        config_file_path: form.string_or_empty("config_file_path"),
        config_file_content: form.string_or_empty("config_file_content"),
    }
}

pub(crate) fn create(st: &mut State, ctx: &Ctx, who: Principal) -> Res<Reply> {
    let mut form = ctx.form()?;
    let f = identity_fields(st, &mut form);
    form.check()?;
    let (Some(offering), Some(name)) = (f.offering, f.name) else {
        return Err(Reply::non_field("Invalid data."));
    };
    let now = st.now();
    let identity = Identity {
        uuid: Uuid::new_v4(),
        offering,
        created_by: st.user(who).uuid,
        name,
        version: f.version,
        dependencies: f.dependencies,
        config_file_path: f.config_file_path,
        config_file_content: f.config_file_content,
        last_restarted: f.last_restarted,
        created: now,
        modified: now,
    };
    let body = render_identity(st, &identity, &ctx.origin);
    st.identities.push(identity);
    Ok(Reply::json(201, body))
}

/// PUT: full update; `offering` is validated but stays pinned to the original.
pub(crate) fn update(st: &mut State, ctx: &Ctx, id: &str) -> Res<Reply> {
    let i = find_identity(st, id)?;
    let mut form = ctx.form()?;
    let f = identity_fields(st, &mut form);
    form.check()?;
    let now = st.now();
    let identity = &mut st.identities[i];
    if let Some(name) = f.name {
        identity.name = name;
    }
    identity.version = f.version;
    identity.dependencies = f.dependencies;
    identity.last_restarted = f.last_restarted;
    identity.config_file_path = f.config_file_path;
    identity.config_file_content = f.config_file_content;
    identity.modified = now;
    Ok(Reply::json(
        200,
        render_identity(st, &st.identities[i], &ctx.origin),
    ))
}

pub(crate) fn delete(st: &mut State, id: &str) -> Res<Reply> {
    let i = find_identity(st, id)?;
    let identity = st.identities.remove(i).uuid;
    let services: Vec<Uuid> = st
        .services
        .iter()
        .filter(|s| s.identity == identity)
        .map(|s| s.uuid)
        .collect();
    st.services.retain(|s| s.identity != identity);
    st.processors.retain(|p| !services.contains(&p.service));
    let effects = super::events::identity_deleted(st, &identity);
    Ok(Reply::empty(204).with_effects(effects))
}

pub(crate) fn register_service(st: &mut State, ctx: &Ctx, id: &str) -> Res<Reply> {
    let i = find_identity(st, id)?;
    let mut form = ctx.form()?;
    let name = form.string("name", true, false);
    let mode = form.string("mode", false, true);
    form.check()?;
    let name = name.unwrap_or_default();
    let identity = st.identities[i].uuid;
    let now = st.now();
    if let Some(si) = st
        .services
        .iter()
        .position(|s| s.identity == identity && s.name == name)
    {
        if let Some(mode) = mode {
            st.services[si].mode = mode;
        }
        st.services[si].modified = now;
        return Ok(Reply::json(
            200,
            render_service(st, &st.services[si], &ctx.origin),
        ));
    }
    st.services.push(Service {
        uuid: Uuid::new_v4(),
        identity,
        name,
        mode: mode.unwrap_or_default(),
        statistics: json!({}),
        created: now,
        modified: now,
    });
    let s = st
        .services
        .last()
        .map(|s| render_service(st, s, &ctx.origin));
    Ok(Reply::json(201, s.unwrap_or(Value::Null)))
}

pub(crate) fn service_detail(st: &State, ctx: &Ctx, id: &str) -> Res<Reply> {
    let i = find_service(st, id)?;
    Ok(ctx.detail(render_service(st, &st.services[i], &ctx.origin)))
}

pub(crate) fn service_action(st: &mut State, ctx: &Ctx, id: &str, action: &str) -> Res<Reply> {
    let si = find_service(st, id)?;
    let now = st.now();
    match action {
        "register_processor" => {
            let mut form = ctx.form()?;
            let name = form.string("name", true, false);
            let backend_type = form.string_or_empty("backend_type");
            let backend_version = form.string_or_empty("backend_version");
            form.check()?;
            let name = name.unwrap_or_default();
            let service = st.services[si].uuid;
            if let Some(pi) = st
                .processors
                .iter()
                .position(|p| p.service == service && p.name == name)
            {
                let p = &mut st.processors[pi];
                p.backend_type = backend_type;
                p.backend_version = backend_version;
                p.modified = now;
                return Ok(Reply::json(
                    200,
                    render_processor(st, &st.processors[pi], &ctx.origin),
                ));
            }
            st.processors.push(Processor {
                uuid: Uuid::new_v4(),
                service,
                name,
                backend_type,
                backend_version,
                created: now,
                modified: now,
            });
            let p = st
                .processors
                .last()
                .map(|p| render_processor(st, p, &ctx.origin));
            Ok(Reply::json(201, p.unwrap_or(Value::Null)))
        }
        "set_statistics" => {
            let mut form = ctx.form()?;
            let stats = form.object("statistics", true);
            form.check()?;
            let s = &mut st.services[si];
            s.statistics = Value::Object(stats.unwrap_or_default());
            s.modified = now;
            Ok(Reply::json(
                200,
                render_service(st, &st.services[si], &ctx.origin),
            ))
        }
        _ => Err(Reply::not_found()),
    }
}
