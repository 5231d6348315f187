//! Users (`/users/me/`, `/version/`), provider offerings with their components and plans,
//! and the empty offering-users list.

use serde_json::{Value, json};
use uuid::Uuid;

use super::context::Ctx;
use super::pagination::paginate;
use super::reply::{Reply, Res};
use super::state::{BILLING_TYPES, Component, OFFERING_TYPE, Offering, Principal, State};
use super::util::{fmt_dt, hex, object, parse_uuid};

pub(crate) const VERSION: &str = "8.1.3";

pub(crate) fn users_me(st: &State, ctx: &Ctx, who: Principal) -> Reply {
    let u = st.user(who);
    let permissions: Vec<Value> = if who == Principal::Agent {
        st.offerings
            .iter()
            .map(|o| {
                let customer = st.customer(&o.customer);
                json!({
                    "scope_type": "offering",
                    "scope_uuid": hex(&o.uuid),
                    "scope_name": o.name,
                    "role_name": "OFFERING.MANAGER",
                    "role_description": "Offering manager",
                    "customer_uuid": hex(&o.customer),
                    "customer_name": customer.map(|c| c.name.clone()),
                    "expiration_time": null,
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let (first, last) = u.full_name.split_once(' ').unwrap_or((&u.full_name, ""));
    ctx.detail(object(vec![
        ("uuid", json!(hex(&u.uuid))),
        (
            "url",
            json!(format!("{}/api/users/{}/", ctx.origin, hex(&u.uuid))),
        ),
        ("username", json!(u.username)),
        ("full_name", json!(u.full_name)),
        ("first_name", json!(first)),
        ("last_name", json!(last)),
        ("native_name", json!("")),
        ("email", json!(u.email)),
        ("civil_number", Value::Null),
        ("phone_number", json!("")),
        ("organization", json!("")),
        ("job_title", json!("")),
        ("description", json!("")),
        ("is_staff", json!(u.is_staff)),
        ("is_support", json!(false)),
        ("is_active", json!(true)),
        ("is_service_provider", json!(who == Principal::Agent)),
        ("token_lifetime", Value::Null),
        ("registration_method", json!("default")),
        ("date_joined", json!("2026-01-01T00:00:00Z")),
        ("agreement_date", json!("2026-01-01T00:00:00Z")),
        ("preferred_language", json!("")),
        ("identity_provider_name", json!("")),
        ("permissions", Value::Array(permissions)),
    ]))
}

pub(crate) fn version(ctx: &Ctx, who: Principal) -> Reply {
    match who {
        Principal::Staff => ctx.detail(json!({ "version": VERSION })),
        Principal::Agent => Reply::forbidden(),
    }
}

pub(crate) fn render_component(c: &Component, offering: &Uuid) -> Value {
    object(vec![
        ("uuid", json!(hex(&c.uuid))),
        ("offering_uuid", json!(hex(offering))),
        ("type", json!(c.type_)),
        ("name", json!(c.name)),
        ("description", json!(c.description)),
        ("billing_type", json!(c.billing_type)),
        ("measured_unit", json!(c.measured_unit)),
        ("unit_factor", json!(c.unit_factor)),
        ("limit_period", json!(c.limit_period)),
        ("limit_amount", json!(c.limit_amount)),
        ("limit_decimal_places", Value::Null),
        ("article_code", json!(c.article_code)),
        ("max_value", json!(c.max_value)),
        ("min_value", json!(c.min_value)),
        ("max_available_limit", json!(c.max_available_limit)),
        ("is_boolean", json!(c.is_boolean)),
        ("default_limit", json!(c.default_limit)),
        ("factor", Value::Null),
        ("is_builtin", json!(false)),
        ("is_prepaid", json!(c.billing_type == "one")),
        ("overage_component", Value::Null),
        ("min_prepaid_duration", Value::Null),
        ("max_prepaid_duration", Value::Null),
        ("prepaid_duration_step", Value::Null),
        ("min_renewal_duration", Value::Null),
        ("max_renewal_duration", Value::Null),
        ("renewal_duration_step", Value::Null),
    ])
}

pub(crate) fn render_plan(o: &Offering, origin: &str) -> Value {
    let components: Vec<Value> = o
        .components
        .iter()
        .map(|c| {
            json!({
                "type": c.type_,
                "name": c.name,
                "measured_unit": c.measured_unit,
                "amount": 0,
                "price": "0.0000000",
                "future_price": null,
                "discount_formula": "",
                "discount_description": null,
            })
        })
        .collect();
    object(vec![
        ("uuid", json!(hex(&o.plan))),
        (
            "url",
            json!(format!("{origin}/api/marketplace-plans/{}/", hex(&o.plan))),
        ),
        ("name", json!("Default")),
        ("description", json!("")),
        ("article_code", json!("")),
        ("unit", json!("month")),
        ("unit_price", json!("0.0000000")),
        ("max_amount", Value::Null),
        ("archived", json!(false)),
        ("is_active", json!(true)),
        ("backend_id", json!("")),
        ("offering_uuid", json!(hex(&o.uuid))),
        (
            "offering",
            json!(format!(
                "{origin}/api/marketplace-provider-offerings/{}/",
                hex(&o.uuid)
            )),
        ),
        ("init_price", json!(0.0)),
        ("switch_price", json!(0.0)),
        ("minimal_price", json!("0.0000000")),
        ("plan_type", json!("usage-based")),
        ("organization_groups", json!([])),
        ("components", Value::Array(components)),
        ("quotas", json!({})),
        ("prices", json!({})),
        ("future_prices", json!({})),
        ("resources_count", json!(0)),
    ])
}

pub(crate) fn render_offering(st: &State, o: &Offering, origin: &str) -> Value {
    let customer = st.customer(&o.customer);
    let u = hex(&o.uuid);
    object(vec![
        ("uuid", json!(u)),
        (
            "url",
            json!(format!("{origin}/api/marketplace-provider-offerings/{u}/")),
        ),
        ("name", json!(o.name)),
        ("slug", json!(o.slug)),
        ("description", json!("")),
        ("full_description", json!("")),
        ("type", json!(OFFERING_TYPE)),
        ("state", json!("Active")),
        ("shared", json!(true)),
        ("billable", json!(true)),
        (
            "customer",
            json!(format!("{origin}/api/customers/{}/", hex(&o.customer))),
        ),
        ("customer_uuid", json!(hex(&o.customer))),
        ("customer_name", json!(customer.map(|c| c.name.clone()))),
        ("category_uuid", json!(hex(&o.category))),
        ("category_title", json!("Storage")),
        (
            "components",
            Value::Array(
                o.components
                    .iter()
                    .map(|c| render_component(c, &o.uuid))
                    .collect(),
            ),
        ),
        ("plans", json!([render_plan(o, origin)])),
        ("plugin_options", o.plugin_options.clone()),
        ("options", json!({"order": [], "options": {}})),
        ("resource_options", json!({"order": [], "options": {}})),
        ("secret_options", json!({})),
        ("backend_id", json!("")),
        ("backend_metadata", json!({})),
        ("partitions", json!([])),
        ("endpoints", json!([])),
        ("getting_started", json!("")),
        ("integration_guide", json!("")),
        ("created", json!(fmt_dt(&o.created))),
    ])
}

fn find_offering(st: &State, id: &str) -> Res<usize> {
    parse_uuid(id)
        .and_then(|u| st.offering_idx(&u))
        .ok_or_else(Reply::not_found)
}

pub(crate) fn list(st: &State, ctx: &Ctx) -> Res<Reply> {
    let items = st
        .offerings
        .iter()
        .map(|o| render_offering(st, o, &ctx.origin))
        .collect();
    Ok(paginate(ctx, items))
}

pub(crate) fn detail(st: &State, ctx: &Ctx, id: &str) -> Res<Reply> {
    let i = find_offering(st, id)?;
    Ok(ctx.detail(render_offering(st, &st.offerings[i], &ctx.origin)))
}

pub(crate) fn plan_detail(st: &State, ctx: &Ctx, id: &str) -> Res<Reply> {
    let u = parse_uuid(id).ok_or_else(Reply::not_found)?;
    let o = st
        .offerings
        .iter()
        .find(|o| o.plan == u)
        .ok_or_else(Reply::not_found)?;
    Ok(ctx.detail(render_plan(o, &ctx.origin)))
}

fn valid_component_type(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 50
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | ':'))
}

fn opt_int(form: &mut super::body::Form, key: &str) -> Option<Option<i64>> {
    match form.raw(key)? {
        Value::Null => Some(None),
        Value::Number(n) if n.as_i64().is_some() => Some(n.as_i64()),
        Value::String(s) if s.trim().parse::<i64>().is_ok() => {
            s.trim().parse::<i64>().ok().map(Some)
        }
        _ => {
            form.error(key, "A valid integer is required.");
            None
        }
    }
}

/// Applies the OfferingComponentRequest fields present in the body to `c`.
fn apply_component_fields(form: &mut super::body::Form, c: &mut Component) {
    if let Some(v) = form.string("billing_type", false, false) {
        if BILLING_TYPES.contains(&v.as_str()) {
            c.billing_type = v;
        } else {
            form.error("billing_type", format!("\"{v}\" is not a valid choice."));
        }
    }
    if let Some(v) = form.string("type", false, false) {
        if valid_component_type(&v) {
            c.type_ = v;
        } else {
            form.error("type", "Enter a valid value.");
        }
    }
    if let Some(v) = form.string("name", false, false) {
        c.name = v;
    }
    if let Some(v) = form.string("measured_unit", false, true) {
        c.measured_unit = v;
    }
    if let Some(v) = form.string("description", false, true) {
        c.description = v;
    }
    if let Some(v) = form.string("article_code", false, true) {
        c.article_code = v;
    }
    match form.raw("limit_period") {
        Some(Value::Null) => c.limit_period = None,
        Some(_) => {
            if let Some(v) = form.string("limit_period", false, true) {
                if v.is_empty() {
                    c.limit_period = None;
                } else if ["month", "quarterly", "annual", "total"].contains(&v.as_str()) {
                    c.limit_period = Some(v);
                } else {
                    form.error("limit_period", format!("\"{v}\" is not a valid choice."));
                }
            }
        }
        None => {}
    }
    if let Some(v) = opt_int(form, "limit_amount") {
        c.limit_amount = v;
    }
    if let Some(v) = opt_int(form, "unit_factor") {
        c.unit_factor = v.unwrap_or(1);
    }
    if let Some(v) = opt_int(form, "min_value") {
        c.min_value = v;
    }
    if let Some(v) = opt_int(form, "max_value") {
        c.max_value = v;
    }
    if let Some(v) = opt_int(form, "max_available_limit") {
        c.max_available_limit = v;
    }
    if let Some(v) = opt_int(form, "default_limit") {
        c.default_limit = v;
    }
    if let Some(v) = form.boolean("is_boolean") {
        c.is_boolean = v;
    }
}

pub(crate) fn create_component(st: &mut State, ctx: &Ctx, id: &str) -> Res<Reply> {
    let oi = find_offering(st, id)?;
    let mut form = ctx.form()?;
    for key in ["billing_type", "type", "name"] {
        form.string(key, true, false);
    }
    form.check()?;
    let mut c = Component {
        uuid: Uuid::new_v4(),
        type_: String::new(),
        name: String::new(),
        description: String::new(),
        billing_type: String::new(),
        measured_unit: String::new(),
        unit_factor: 1,
        limit_period: None,
        limit_amount: None,
        article_code: String::new(),
        min_value: None,
        max_value: None,
        max_available_limit: None,
        default_limit: None,
        is_boolean: false,
    };
    apply_component_fields(&mut form, &mut c);
    form.check()?;
    if st.offerings[oi]
        .components
        .iter()
        .any(|x| x.type_ == c.type_)
    {
        return Err(Reply::non_field(format!(
            "Component with type {} already exists in this offering.",
            c.type_
        )));
    }
    st.offerings[oi].components.push(c);
    Ok(Reply::empty(201))
}

pub(crate) fn update_component(st: &mut State, ctx: &Ctx, id: &str) -> Res<Reply> {
    let oi = find_offering(st, id)?;
    let mut form = ctx.form()?;
    let cu = form.uuid("uuid", true);
    form.check()?;
    let Some(cu) = cu else {
        return Err(Reply::field("uuid", super::body::REQUIRED));
    };
    let ci = st.offerings[oi]
        .components
        .iter()
        .position(|c| c.uuid == cu)
        .ok_or_else(Reply::not_found)?;
    let mut c = st.offerings[oi].components[ci].clone();
    apply_component_fields(&mut form, &mut c);
    form.check()?;
    if st.offerings[oi]
        .components
        .iter()
        .any(|x| x.type_ == c.type_ && x.uuid != c.uuid)
    {
        return Err(Reply::non_field(format!(
            "Component with type {} already exists in this offering.",
            c.type_
        )));
    }
    st.offerings[oi].components[ci] = c;
    Ok(Reply::empty(200))
}

pub(crate) fn remove_component(st: &mut State, ctx: &Ctx, id: &str) -> Res<Reply> {
    let oi = find_offering(st, id)?;
    let mut form = ctx.form()?;
    let cu = form.uuid("uuid", true);
    form.check()?;
    let Some(cu) = cu else {
        return Err(Reply::field("uuid", super::body::REQUIRED));
    };
    let ci = st.offerings[oi]
        .components
        .iter()
        .position(|c| c.uuid == cu)
        .ok_or_else(Reply::not_found)?;
    st.offerings[oi].components.remove(ci);
    Ok(Reply::empty(200))
}

pub(crate) fn check_unique_backend_id(st: &State, ctx: &Ctx, id: &str) -> Res<Reply> {
    let oi = find_offering(st, id)?;
    let mut form = ctx.form()?;
    let backend_id = form.string("backend_id", true, false);
    let all = form.boolean("check_all_offerings").unwrap_or(false);
    form.boolean("use_offering_rules");
    form.check()?;
    let backend_id = backend_id.unwrap_or_default();
    let offering = st.offerings[oi].uuid;
    let taken = st
        .resources
        .iter()
        .any(|r| r.backend_id == backend_id && (all || r.offering == offering));
    Ok(Reply::json(
        200,
        json!({"is_unique": !taken, "is_valid_format": null, "errors": []}),
    ))
}

/// The S3 agent does not manage offering users; the list is always empty (but validated).
/// Service providers: one per customer that owns an offering (`?customer_uuid=` filters).
pub(crate) fn service_providers(st: &State, ctx: &Ctx) -> Res<Reply> {
    let mut f = super::query::Filters::new(&ctx.query);
    let customer = f.uuid("customer_uuid");
    f.finish()?;
    let items = st
        .customers
        .iter()
        .filter(|c| st.offerings.iter().any(|o| o.customer == c.uuid))
        .filter(|c| customer.is_none_or(|u| u == c.uuid))
        .map(|c| {
            let sp = hex(&c.service_provider);
            object(vec![
                (
                    "url",
                    json!(format!(
                        "{}/api/marketplace-service-providers/{sp}/",
                        ctx.origin
                    )),
                ),
                ("uuid", json!(sp)),
                ("created", json!("2026-01-01T00:00:00Z")),
                ("description", json!("")),
                ("enable_notifications", json!(true)),
                (
                    "customer",
                    json!(format!("{}/api/customers/{}/", ctx.origin, hex(&c.uuid))),
                ),
                ("customer_uuid", json!(hex(&c.uuid))),
                ("customer_name", json!(c.name)),
                ("customer_abbreviation", json!("")),
                ("customer_slug", json!(c.slug)),
                ("customer_country", json!("")),
                ("image", Value::Null),
                ("organization_groups", json!([])),
                (
                    "offering_count",
                    json!(st.offerings.iter().filter(|o| o.customer == c.uuid).count()),
                ),
            ])
        })
        .collect();
    Ok(paginate(ctx, items))
}

/// Lists this simulator keeps empty — service-provider SSH keys, an offering's project service
/// accounts and course accounts — for an S3 offering, after the lookup Waldur does (404 for an
/// unknown owner).
pub(crate) fn empty_offering_list(st: &State, ctx: &Ctx, offering: &str) -> Res<Reply> {
    find_offering(st, offering)?;
    Ok(paginate(ctx, Vec::new()))
}

pub(crate) fn service_provider_keys(st: &State, ctx: &Ctx, id: &str) -> Res<Reply> {
    let u = parse_uuid(id).ok_or_else(Reply::not_found)?;
    if !st.customers.iter().any(|c| c.service_provider == u) {
        return Err(Reply::not_found());
    }
    Ok(paginate(ctx, Vec::new()))
}

pub(crate) fn offering_users(ctx: &Ctx) -> Res<Reply> {
    let mut f = super::query::Filters::new(&ctx.query);
    f.uuids("offering_uuid");
    f.uuid("user_uuid");
    f.finish()?;
    Ok(paginate(ctx, Vec::new()))
}
