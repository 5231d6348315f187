//! Marketplace orders (§1): OrderDetails rendering, list filters, the provider-side state
//! machine and the resource side effects of each transition.

use serde_json::{Map, Value, json};

use super::context::Ctx;
use super::events;
use super::pagination::paginate;
use super::query::Filters;
use super::reply::{Reply, Res};
use super::state::{
    CREATING, ERRED, OFFERING_TYPE, OK, ORDER_STATES, ORDER_TYPES, Order, Principal, State,
    TERMINATED, TERMINATING, UPDATING,
};
use super::util::{fmt_dt, hex, object, opt_dt, parse_uuid};

pub(crate) const APPROVED: &str = "Order has been approved and is being processed.";

/// Full OrderDetails field set (§1.4), nulls and empties included.
pub(crate) fn render(st: &State, o: &Order, origin: &str) -> Value {
    let offering = st.offering(&o.offering);
    let resource = st.resource(&o.resource);
    let project = st.project(&o.project);
    let customer = project.and_then(|p| st.customer(&p.customer));
    let provider = offering.and_then(|f| st.customer(&f.customer));
    let consumer = &st.consumer;
    let u = hex(&o.uuid);
    let plan_url = format!("{origin}/api/marketplace-plans/{}/", hex(&o.plan));
    let consumer_reviewed = o.consumer_reviewed_at.is_some();
    let provider_reviewer = o.provider_reviewed_by.as_ref().map(|name| {
        if *name == st.staff.username {
            &st.staff
        } else {
            &st.agent
        }
    });
    object(vec![
        ("uuid", json!(u)),
        (
            "url",
            json!(format!("{origin}/api/marketplace-orders/{u}/")),
        ),
        ("type", json!(o.type_)),
        ("state", json!(o.state)),
        ("created", json!(fmt_dt(&o.created))),
        ("modified", json!(fmt_dt(&o.modified))),
        ("completed_at", opt_dt(&o.completed_at)),
        (
            "offering",
            json!(format!(
                "{origin}/api/marketplace-public-offerings/{}/",
                hex(&o.offering)
            )),
        ),
        ("offering_uuid", json!(hex(&o.offering))),
        ("offering_name", json!(offering.map(|f| f.name.clone()))),
        ("offering_type", json!(OFFERING_TYPE)),
        ("offering_description", json!("")),
        ("offering_image", Value::Null),
        ("offering_thumbnail", Value::Null),
        (
            "offering_plugin_options",
            offering
                .map(|f| f.plugin_options.clone())
                .unwrap_or(json!({})),
        ),
        ("offering_shared", json!(true)),
        ("offering_billable", json!(true)),
        ("provider_uuid", json!(provider.map(|c| hex(&c.uuid)))),
        ("provider_name", json!(provider.map(|c| c.name.clone()))),
        ("provider_slug", json!(provider.map(|c| c.slug.clone()))),
        ("category_uuid", json!(offering.map(|f| hex(&f.category)))),
        ("category_title", json!("Storage")),
        ("category_icon", Value::Null),
        ("plan", json!(plan_url)),
        ("plan_uuid", json!(hex(&o.plan))),
        ("plan_name", json!("Default")),
        ("plan_description", json!("")),
        ("plan_unit", json!("month")),
        ("attributes", o.attributes.clone()),
        ("limits", o.limits.clone()),
        ("marketplace_resource_uuid", json!(hex(&o.resource))),
        ("resource_uuid", Value::Null),
        ("resource_name", json!(o.resource_name)),
        ("resource_type", Value::Null),
        ("resource_end_date", Value::Null),
        ("backend_id", json!(o.backend_id)),
        ("error_message", json!(o.error_message)),
        ("error_traceback", json!(o.error_traceback)),
        ("error_updated_at", opt_dt(&o.error_updated_at)),
        ("output", json!("")),
        ("cost", json!("0.0000000000")),
        ("fixed_price", json!(0)),
        ("activation_price", json!(0)),
        ("can_terminate", json!(false)),
        ("start_date", Value::Null),
        ("request_comment", Value::Null),
        ("callback_url", Value::Null),
        (
            "project",
            json!(format!("{origin}/api/projects/{}/", hex(&o.project))),
        ),
        ("project_uuid", json!(hex(&o.project))),
        ("project_name", json!(project.map(|p| p.name.clone()))),
        ("project_slug", json!(project.map(|p| p.slug.clone()))),
        ("project_description", json!("")),
        ("customer_uuid", json!(customer.map(|c| hex(&c.uuid)))),
        ("customer_name", json!(customer.map(|c| c.name.clone()))),
        ("customer_slug", json!(customer.map(|c| c.slug.clone()))),
        (
            "created_by",
            json!(format!("{origin}/api/users/{}/", hex(&consumer.uuid))),
        ),
        ("created_by_username", json!(consumer.username)),
        ("created_by_full_name", json!(consumer.full_name)),
        ("created_by_email", json!(consumer.email)),
        ("created_by_civil_number", Value::Null),
        ("created_by_organization", json!("")),
        ("created_by_organization_registry_code", json!("")),
        (
            "consumer_reviewed_by",
            json!(consumer_reviewed.then(|| consumer.username.clone())),
        ),
        (
            "consumer_reviewed_by_username",
            json!(consumer_reviewed.then(|| consumer.username.clone())),
        ),
        (
            "consumer_reviewed_by_full_name",
            json!(consumer_reviewed.then(|| consumer.full_name.clone())),
        ),
        ("consumer_reviewed_at", opt_dt(&o.consumer_reviewed_at)),
        (
            "provider_reviewed_by",
            json!(provider_reviewer.map(|u| u.username.clone())),
        ),
        (
            "provider_reviewed_by_username",
            json!(provider_reviewer.map(|u| u.username.clone())),
        ),
        (
            "provider_reviewed_by_full_name",
            json!(provider_reviewer.map(|u| u.full_name.clone())),
        ),
        ("provider_reviewed_at", opt_dt(&o.provider_reviewed_at)),
        ("old_plan_uuid", Value::Null),
        ("new_plan_uuid", Value::Null),
        ("old_plan_name", Value::Null),
        ("new_plan_name", Value::Null),
        ("old_cost_estimate", Value::Null),
        ("new_cost_estimate", Value::Null),
        ("termination_comment", json!(o.termination_comment)),
        ("order_subtype", Value::Null),
        ("provider_message", json!("")),
        ("provider_message_url", json!("")),
        ("provider_message_attachment", Value::Null),
        ("consumer_message", json!("")),
        ("consumer_message_attachment", Value::Null),
        ("consumer_rejection_comment", json!("")),
        (
            "provider_rejection_comment",
            json!(o.provider_rejection_comment.clone().unwrap_or_default()),
        ),
        ("auto_approved", json!(false)),
        ("issue", Value::Null),
        ("attachment", Value::Null),
        (
            "resource_backend_id",
            json!(resource.map(|r| r.backend_id.clone())),
        ),
    ])
}

fn find(st: &State, id: &str) -> Res<usize> {
    parse_uuid(id)
        .and_then(|u| st.order_idx(&u))
        .ok_or_else(Reply::not_found)
}

pub(crate) fn list(st: &State, ctx: &Ctx) -> Res<Reply> {
    let mut f = Filters::new(&ctx.query);
    let offering = f.uuid("offering_uuid");
    let project = f.uuid("project_uuid");
    let customer = f.uuid("customer_uuid");
    let provider = f.uuid("provider_uuid");
    let resource = f.uuid("resource_uuid");
    let states = f.choices("state", &ORDER_STATES);
    let types = f.choices("type", &ORDER_TYPES);
    let offering_types = f.choices("offering_type", &[OFFERING_TYPE, "Marketplace.Basic"]);
    let modified = f.datetime("modified");
    let modified_before = f.datetime("modified_before");
    let created = f.datetime("created");
    let created_before = f.datetime("created_before");
    let resource_name = f.string("resource_name");
    f.finish()?;

    let mut orders: Vec<&Order> = st
        .orders
        .iter()
        .filter(|o| offering.is_none_or(|u| o.offering == u))
        .filter(|o| project.is_none_or(|u| o.project == u))
        .filter(|o| {
            customer.is_none_or(|u| st.project(&o.project).is_some_and(|p| p.customer == u))
        })
        .filter(|o| {
            provider.is_none_or(|u| st.offering(&o.offering).is_some_and(|f| f.customer == u))
        })
        .filter(|o| resource.is_none_or(|u| o.resource == u))
        .filter(|o| states.is_empty() || states.contains(&o.state))
        .filter(|o| types.is_empty() || types.contains(&o.type_))
        .filter(|_| offering_types.is_empty() || offering_types.iter().any(|t| t == OFFERING_TYPE))
        .filter(|o| modified.is_none_or(|t| o.modified >= t))
        .filter(|o| modified_before.is_none_or(|t| o.modified <= t))
        .filter(|o| created.is_none_or(|t| o.created >= t))
        .filter(|o| created_before.is_none_or(|t| o.created <= t))
        .filter(|o| {
            resource_name
                .as_ref()
                .is_none_or(|n| o.resource_name.to_lowercase().contains(&n.to_lowercase()))
        })
        .collect();
    orders.sort_by_key(|o| o.created);
    let items = orders
        .into_iter()
        .map(|o| render(st, o, &ctx.origin))
        .collect();
    Ok(paginate(ctx, items))
}

pub(crate) fn detail(st: &State, ctx: &Ctx, id: &str) -> Res<Reply> {
    let i = find(st, id)?;
    Ok(ctx.detail(render(st, &st.orders[i], &ctx.origin)))
}

fn require(state: &str, valid: &[&str]) -> Res<()> {
    if valid.contains(&state) {
        Ok(())
    } else {
        Err(Reply::invalid_state(valid))
    }
}

/// A provider-side order action; a state change it makes is published as an `order` event.
pub(crate) fn action(
    st: &mut State,
    ctx: &Ctx,
    who: Principal,
    id: &str,
    action: &str,
) -> Res<Reply> {
    let oi = find(st, id)?;
    let (uuid, before) = (st.orders[oi].uuid, st.orders[oi].state.clone());
    let reply = transition(st, ctx, who, oi, action)?;
    if let Some(i) = st.order_idx(&uuid)
        && st.orders[i].state != before
    {
        events::order_changed(st, i);
    }
    Ok(reply)
}

fn transition(st: &mut State, ctx: &Ctx, who: Principal, oi: usize, action: &str) -> Res<Reply> {
    let state = st.orders[oi].state.clone();
    let now = st.now();
    let reviewer = st.user(who).username.clone();
    match action {
        "approve_by_provider" => {
            require(&state, &["pending-provider"])?;
            let mut form = ctx.form()?;
            let attributes = form.object("attributes", false);
            form.check()?;
            let o = &mut st.orders[oi];
            if let (Some(new), Value::Object(current)) = (attributes, &mut o.attributes) {
                current.extend(new);
            }
            o.provider_reviewed_at = Some(now);
            o.provider_reviewed_by = Some(reviewer);
            o.state = "executing".to_string();
            o.modified = now;
            Ok(Reply::json(200, json!({ "detail": APPROVED })))
        }
        "reject_by_provider" => {
            require(&state, &["pending-provider"])?;
            // The view does not read a body; a rejection comment is kept if one is sent.
            let comment = ctx
                .data()
                .ok()
                .and_then(|d| d.get("provider_rejection_comment").cloned())
                .and_then(|v| v.as_str().map(str::to_string));
            let o = &mut st.orders[oi];
            o.provider_reviewed_at = Some(now);
            o.provider_reviewed_by = Some(reviewer);
            if comment.is_some() {
                o.provider_rejection_comment = comment;
            }
            o.state = "rejected".to_string();
            o.modified = now;
            on_rejected(st, oi);
            Ok(Reply::empty(200))
        }
        "set_state_executing" => {
            require(&state, &["pending-consumer", "pending-provider", "erred"])?;
            let o = &mut st.orders[oi];
            o.state = "executing".to_string();
            o.modified = now;
            Ok(Reply::empty(200))
        }
        "set_state_done" => {
            require(&state, &["executing"])?;
            let o = &mut st.orders[oi];
            o.state = "done".to_string();
            o.modified = now;
            o.completed_at = Some(now);
            on_done(st, oi);
            Ok(Reply::empty(200))
        }
        "set_state_erred" => {
            require(&state, &["pending-provider", "executing"])?;
            let mut form = ctx.form()?;
            let message = form.string_or_empty("error_message");
            let traceback = form.string_or_empty("error_traceback");
            form.check()?;
            let o = &mut st.orders[oi];
            o.state = "erred".to_string();
            o.error_message = message;
            o.error_traceback = traceback;
            o.error_updated_at = Some(now);
            o.modified = now;
            on_erred(st, oi);
            Ok(Reply::empty(200))
        }
        "set_backend_id" => {
            let mut form = ctx.form()?;
            let backend_id = form.string("backend_id", true, true);
            form.check()?;
            let backend_id = backend_id.unwrap_or_default();
            let o = &mut st.orders[oi];
            if o.backend_id == backend_id {
                return Ok(Reply::json(
                    200,
                    json!({"status": "Order backend_id is not changed."}),
                ));
            }
            o.backend_id = backend_id;
            o.modified = now;
            Ok(Reply::json(
                200,
                json!({"status": "Order backend_id has been changed."}),
            ))
        }
        "retry" => {
            require(&state, &["erred"])?;
            let o = &mut st.orders[oi];
            o.state = "executing".to_string();
            o.error_message.clear();
            o.error_traceback.clear();
            o.modified = now;
            let (resource, type_) = (o.resource, o.type_.clone());
            let transitional = match type_.as_str() {
                "Update" => UPDATING,
                "Terminate" => TERMINATING,
                _ => CREATING,
            };
            st.set_resource_state(&resource, transitional);
            Ok(Reply::empty(200))
        }
        "cancel" => {
            require(
                &state,
                &[
                    "pending-consumer",
                    "pending-provider",
                    "pending-start-date",
                    "executing",
                ],
            )?;
            Err(Reply::detail(
                405,
                format!(
                    "The order's offering with {OFFERING_TYPE} type does not support this action"
                ),
            ))
        }
        "unlink" => {
            if who != Principal::Staff {
                return Err(Reply::forbidden());
            }
            st.orders.remove(oi);
            Ok(Reply::empty(204))
        }
        _ => Err(Reply::not_found()),
    }
}

/// Resource effect of placing an order (`update_resource_state_on_order_creation`, and the
/// `restore` action moving the resource to Creating).
pub(crate) fn on_placed(st: &mut State, oi: usize) {
    let (resource, type_) = (st.orders[oi].resource, st.orders[oi].type_.clone());
    let current = st
        .resource(&resource)
        .map(|r| r.state.clone())
        .unwrap_or_default();
    match type_.as_str() {
        "Update" if current != ERRED => st.set_resource_state(&resource, UPDATING),
        "Terminate" if current != ERRED => st.set_resource_state(&resource, TERMINATING),
        "Restore" => st.set_resource_state(&resource, CREATING),
        _ => {}
    }
}

/// `set_state_done` callbacks.
pub(crate) fn on_done(st: &mut State, oi: usize) {
    let o = st.orders[oi].clone();
    match o.type_.as_str() {
        "Update" => {
            let now = st.now();
            if let Some(ri) = st.resource_idx(&o.resource) {
                let r = &mut st.resources[ri];
                if o.limits.as_object().is_some_and(|m| !m.is_empty()) {
                    r.limits = o.limits.clone();
                }
                if let (Some(Value::Object(new)), Value::Object(current)) =
                    (o.attributes.get("new_options"), &mut r.options)
                {
                    current.extend(new.clone());
                }
                r.modified = now;
            }
            st.set_resource_state(&o.resource, OK);
        }
        "Terminate" => {
            st.set_resource_state(&o.resource, TERMINATED);
            st.api_keys.retain(|k| k.resource != o.resource);
        }
        _ => st.set_resource_state(&o.resource, OK),
    }
}

/// `set_state_erred` callbacks.
pub(crate) fn on_erred(st: &mut State, oi: usize) {
    let o = st.orders[oi].clone();
    let Some(r) = st.resource(&o.resource) else {
        return;
    };
    let never_provisioned = r.state == CREATING && r.backend_id.is_empty();
    let target = match o.type_.as_str() {
        "Update" => ERRED,
        "Terminate" => OK,
        _ if never_provisioned => TERMINATED,
        _ => ERRED,
    };
    st.set_resource_state(&o.resource, target);
}

/// Rejection/cancellation handler.
pub(crate) fn on_rejected(st: &mut State, oi: usize) {
    let o = st.orders[oi].clone();
    let target = match o.type_.as_str() {
        "Create" | "Restore" => TERMINATED,
        _ => OK,
    };
    st.set_resource_state(&o.resource, target);
}

/// Merges `attributes` of a seed into an object (non-objects become `{}`).
pub(crate) fn as_object(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}
