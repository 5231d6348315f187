//! Provider resources (§2): full Resource rendering, list filters and the agent's POST
//! actions (backend id, metadata, limits, endpoints, error/ok, last sync, report).

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::context::Ctx;
use super::offerings::render_component;
use super::orders;
use super::pagination::paginate_with;
use super::query::Filters;
use super::reply::{Reply, Res};
use super::state::{ERRED, OFFERING_TYPE, OK, RESOURCE_STATES, Resource, State, TERMINATED};
use super::util::{fmt_dt, hex, object};

const PENDING_ORDER_STATES: [&str; 5] = [
    "pending-consumer",
    "pending-provider",
    "pending-project",
    "pending-start-date",
    "executing",
];

/// Full Resource field set (§2.1).
pub(crate) fn render(st: &State, r: &Resource, origin: &str) -> Value {
    let offering = st.offering(&r.offering);
    let project = st.project(&r.project);
    let customer = project.and_then(|p| st.customer(&p.customer));
    let provider = offering.and_then(|f| st.customer(&f.customer));
    let u = hex(&r.uuid);
    let components = offering
        .map(|f| f.components.as_slice())
        .unwrap_or_default();
    let in_progress = st
        .orders
        .iter()
        .find(|o| o.resource == r.uuid && PENDING_ORDER_STATES.contains(&o.state.as_str()))
        .map(|o| orders::render(st, o, origin))
        .unwrap_or(Value::Null);
    let creation_order = st
        .orders
        .iter()
        .find(|o| o.resource == r.uuid && o.type_ == "Create")
        .map(|o| orders::render(st, o, origin))
        .unwrap_or(Value::Null);
    let can_terminate = (r.state == OK || r.state == ERRED) && in_progress.is_null();
    let mut v = object(vec![
        ("uuid", json!(u)),
        (
            "url",
            json!(format!("{origin}/api/marketplace-provider-resources/{u}/")),
        ),
        ("name", json!(r.name)),
        ("slug", json!(r.slug)),
        ("description", json!("")),
        ("state", json!(r.state)),
        ("backend_id", json!(r.backend_id)),
        ("effective_id", json!("")),
        ("resource_uuid", Value::Null),
        ("resource_type", Value::Null),
        (
            "offering",
            json!(format!(
                "{origin}/api/marketplace-public-offerings/{}/",
                hex(&r.offering)
            )),
        ),
        ("offering_uuid", json!(hex(&r.offering))),
        ("offering_name", json!(offering.map(|f| f.name.clone()))),
        ("offering_slug", json!(offering.map(|f| f.slug.clone()))),
        ("offering_type", json!(OFFERING_TYPE)),
        ("offering_description", json!("")),
        ("offering_image", Value::Null),
        ("offering_thumbnail", Value::Null),
        ("offering_shared", json!(true)),
        ("offering_billable", json!(true)),
        ("offering_state", json!("Active")),
        ("offering_backend_id", json!("")),
        (
            "offering_plugin_options",
            offering
                .map(|f| f.plugin_options.clone())
                .unwrap_or(json!({})),
        ),
        (
            "offering_components",
            Value::Array(
                components
                    .iter()
                    .map(|c| render_component(c, &r.offering))
                    .collect(),
            ),
        ),
        ("category_uuid", json!(offering.map(|f| hex(&f.category)))),
        ("category_title", json!("Storage")),
        ("category_icon", Value::Null),
        (
            "plan",
            json!(format!("{origin}/api/marketplace-plans/{}/", hex(&r.plan))),
        ),
        ("plan_uuid", json!(hex(&r.plan))),
        ("plan_name", json!("Default")),
        ("plan_description", json!("")),
        ("plan_unit", json!("month")),
        (
            "project",
            json!(format!("{origin}/api/projects/{}/", hex(&r.project))),
        ),
        ("project_uuid", json!(hex(&r.project))),
        ("project_name", json!(project.map(|p| p.name.clone()))),
        ("project_slug", json!(project.map(|p| p.slug.clone()))),
        ("project_description", json!("")),
        ("project_end_date", Value::Null),
        ("project_start_date", Value::Null),
        ("project_end_date_requested_by", Value::Null),
        ("customer_uuid", json!(customer.map(|c| hex(&c.uuid)))),
        ("customer_name", json!(customer.map(|c| c.name.clone()))),
        ("customer_slug", json!(customer.map(|c| c.slug.clone()))),
        ("provider_uuid", json!(provider.map(|c| hex(&c.uuid)))),
        ("provider_name", json!(provider.map(|c| c.name.clone()))),
        ("provider_slug", json!(provider.map(|c| c.slug.clone()))),
        ("attributes", r.attributes.clone()),
        ("limits", r.limits.clone()),
        ("limit_usage", json!({})),
        ("current_usages", Value::Object(r.current_usages.clone())),
        ("backend_metadata", r.backend_metadata.clone()),
        ("options", r.options.clone()),
        ("endpoints", Value::Array(r.endpoints.clone())),
        ("report", r.report.clone()),
        ("downscaled", json!(r.downscaled)),
        ("paused", json!(r.paused)),
        ("restrict_member_access", json!(r.restrict_member_access)),
        ("end_date", Value::Null),
        ("end_date_requested_by", Value::Null),
        ("error_message", json!(r.error_message)),
        ("error_traceback", json!(r.error_traceback)),
        ("last_sync", json!(fmt_dt(&r.last_sync))),
        ("created", json!(fmt_dt(&r.created))),
        ("modified", json!(fmt_dt(&r.modified))),
        ("order_in_progress", in_progress),
        ("creation_order", creation_order),
        ("available_actions", json!([])),
        ("can_terminate", json!(can_terminate)),
        (
            "is_usage_based",
            json!(components.iter().any(|c| c.billing_type == "usage")),
        ),
        (
            "is_limit_based",
            json!(components.iter().any(|c| c.billing_type == "limit")),
        ),
        (
            "has_api_keys",
            json!(st.api_keys.iter().any(|k| k.resource == r.uuid)),
        ),
        ("renewal_date", Value::Null),
        ("username", Value::Null),
        // `parent_*` and `service_settings_uuid` are `ReadOnlyField(source="offering.parent.…"
        // / "offering.scope.uuid")`: with nothing there DRF skips them (SkipField) rather than
        // rendering null — Waldur's generated client rejects null for them.
        ("scope", Value::Null),
        // A blank CharField with choices: "" when unset, never null.
        ("usage_limit_restriction", json!("")),
        ("offering_account_settings", Value::Null),
    ]);
    if let Value::Object(map) = &mut v {
        for (k, val) in &r.extra {
            map.insert(k.clone(), val.clone());
        }
    }
    v
}

fn find(st: &State, id: &str) -> Res<usize> {
    super::util::parse_uuid(id)
        .and_then(|u| st.resource_idx(&u))
        .ok_or_else(Reply::not_found)
}

pub(crate) fn list(st: &State, ctx: &Ctx) -> Res<Reply> {
    let mut f = Filters::new(&ctx.query);
    let offerings = f.uuids("offering_uuid");
    let states = f.choices("state", &RESOURCE_STATES);
    let project = f.uuid("project_uuid");
    let customer = f.uuid("customer_uuid");
    let backend_id = f.string("backend_id");
    let name = f.string("name");
    let name_exact = f.string("name_exact");
    let slug = f.string("slug");
    let paused = f.boolean("paused");
    let downscaled = f.boolean("downscaled");
    let restrict = f.boolean("restrict_member_access");
    let modified_before = f.datetime("modified_before");
    f.finish()?;
    let items = st
        .resources
        .iter()
        .filter(|r| offerings.is_empty() || offerings.contains(&r.offering))
        .filter(|r| states.is_empty() || states.contains(&r.state))
        .filter(|r| project.is_none_or(|u| r.project == u))
        .filter(|r| {
            customer.is_none_or(|u| st.project(&r.project).is_some_and(|p| p.customer == u))
        })
        .filter(|r| backend_id.as_ref().is_none_or(|b| &r.backend_id == b))
        .filter(|r| {
            name.as_ref()
                .is_none_or(|n| r.name.to_lowercase().contains(&n.to_lowercase()))
        })
        .filter(|r| name_exact.as_ref().is_none_or(|n| &r.name == n))
        .filter(|r| slug.as_ref().is_none_or(|s| &r.slug == s))
        .filter(|r| paused.is_none_or(|b| r.paused == b))
        .filter(|r| downscaled.is_none_or(|b| r.downscaled == b))
        .filter(|r| restrict.is_none_or(|b| r.restrict_member_access == b))
        .filter(|r| modified_before.is_none_or(|t| r.modified <= t))
        .collect::<Vec<_>>();
    Ok(paginate_with(ctx, items, |r| render(st, r, &ctx.origin)))
}

pub(crate) fn detail(st: &State, ctx: &Ctx, id: &str) -> Res<Reply> {
    let i = find(st, id)?;
    Ok(ctx.detail(render(st, &st.resources[i], &ctx.origin)))
}

/// `GET …/{uuid}/team/`: not paginated; the simulated projects have no members.
pub(crate) fn team(st: &State, id: &str) -> Res<Reply> {
    find(st, id)?;
    Ok(Reply::json(200, json!([])))
}

fn number_map(form: &mut super::body::Form, key: &str) -> Option<Map<String, Value>> {
    let map = form.object(key, true)?;
    let mut child_errors = Map::new();
    for (k, v) in &map {
        if !v.is_number() {
            child_errors.insert(k.clone(), json!(["A valid number is required."]));
        }
    }
    if child_errors.is_empty() {
        Some(map)
    } else {
        form.error_value(key, Value::Object(child_errors));
        None
    }
}

fn endpoints(form: &mut super::body::Form) -> Option<Vec<Value>> {
    let items = form.list("endpoints", true)?;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut failed = false;
    for item in items {
        let mut item_errors = Map::new();
        match item {
            Value::Object(m) => {
                let mut get = |k: &str| match m.get(k) {
                    None => {
                        item_errors.insert(k.to_string(), json!([super::body::REQUIRED]));
                        None
                    }
                    Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
                    Some(Value::String(_)) => {
                        item_errors.insert(k.to_string(), json!([super::body::NOT_BLANK]));
                        None
                    }
                    Some(_) => {
                        item_errors.insert(k.to_string(), json!(["Not a valid string."]));
                        None
                    }
                };
                let name = get("name");
                let url = get("url");
                if let Some(u) = &url
                    && !(u.starts_with("http://") || u.starts_with("https://"))
                    && !item_errors.contains_key("url")
                {
                    item_errors.insert("url".into(), json!(["Enter a valid URL."]));
                }
                if let (Some(name), Some(url), true) = (name, url, item_errors.is_empty()) {
                    out.push(json!({"uuid": hex(&Uuid::new_v4()), "name": name, "url": url}));
                }
            }
            other => {
                item_errors.insert(
                    "non_field_errors".into(),
                    json!([format!(
                        "Invalid data. Expected a dictionary, but got {}.",
                        super::util::py_type(&other)
                    )]),
                );
            }
        }
        failed |= !item_errors.is_empty();
        errors.push(Value::Object(item_errors));
    }
    if failed {
        form.error_value("endpoints", Value::Array(errors));
        None
    } else {
        Some(out)
    }
}

pub(crate) fn action(st: &mut State, ctx: &Ctx, id: &str, action: &str) -> Res<Reply> {
    let ri = find(st, id)?;
    let now = st.now();
    match action {
        "set_backend_id" => {
            let mut form = ctx.form()?;
            let backend_id = form.string("backend_id", true, true);
            form.check()?;
            let backend_id = backend_id.unwrap_or_default();
            let r = &mut st.resources[ri];
            if r.backend_id == backend_id {
                return Ok(Reply::json(
                    200,
                    json!({"status": "Resource backend_id is not changed."}),
                ));
            }
            r.backend_id = backend_id;
            r.modified = now;
            Ok(Reply::json(
                200,
                json!({"status": "Resource backend_id has been changed."}),
            ))
        }
        "set_backend_metadata" => {
            let mut form = ctx.form()?;
            let metadata = form.object("backend_metadata", true);
            form.check()?;
            let r = &mut st.resources[ri];
            r.backend_metadata = Value::Object(metadata.unwrap_or_default());
            r.modified = now;
            Ok(Reply::json(
                200,
                json!({"status": "The backend metadata is updated"}),
            ))
        }
        "set_limits" => {
            let mut form = ctx.form()?;
            let limits = number_map(&mut form, "limits");
            form.check()?;
            let r = &mut st.resources[ri];
            r.limits = Value::Object(limits.unwrap_or_default());
            r.modified = now;
            Ok(Reply::json(
                200,
                json!({"status": "Resource limits have been updated."}),
            ))
        }
        "set_endpoints" => {
            let mut form = ctx.form()?;
            let list = endpoints(&mut form);
            form.check()?;
            let r = &mut st.resources[ri];
            r.endpoints = list.unwrap_or_default();
            r.modified = now;
            Ok(Reply::json(
                200,
                json!({"status": "Resource endpoints have been updated."}),
            ))
        }
        "set_as_erred" => {
            if st.resources[ri].state == TERMINATED {
                return Err(Reply::invalid_state(&[
                    "Creating",
                    "OK",
                    "Erred",
                    "Updating",
                    "Terminating",
                ]));
            }
            let mut form = ctx.form()?;
            let message = form.string_or_empty("error_message");
            let traceback = form.string_or_empty("error_traceback");
            form.check()?;
            let r = &mut st.resources[ri];
            r.state = ERRED.to_string();
            r.error_message = message;
            r.error_traceback = traceback;
            r.modified = now;
            Ok(Reply::empty(200))
        }
        "set_as_ok" => {
            if st.resources[ri].state == TERMINATED {
                return Err(Reply::invalid_state(&[
                    "Creating",
                    "OK",
                    "Erred",
                    "Updating",
                    "Terminating",
                ]));
            }
            let r = &mut st.resources[ri];
            r.state = OK.to_string();
            r.error_message.clear();
            r.error_traceback.clear();
            r.modified = now;
            Ok(Reply::empty(200))
        }
        "refresh_last_sync" => {
            st.resources[ri].last_sync = now;
            Ok(Reply::empty(200))
        }
        "submit_report" => {
            let mut form = ctx.form()?;
            let report = form.list("report", true);
            if let Some(items) = &report
                && items.iter().any(|i| {
                    !(i.get("header").is_some_and(Value::is_string)
                        && i.get("body").is_some_and(Value::is_string))
                })
            {
                form.error(
                    "report",
                    "Each report section needs string \"header\" and \"body\".",
                );
            }
            form.check()?;
            let r = &mut st.resources[ri];
            r.report = Value::Array(report.unwrap_or_default());
            r.modified = now;
            Ok(Reply::json(200, json!({"status": "Report is submitted"})))
        }
        _ => Err(Reply::not_found()),
    }
}
