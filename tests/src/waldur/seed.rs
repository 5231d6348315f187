//! Seeding the world the way Mastermind would have: offerings with components and a plan,
//! and consumer orders (a Create order brings its resource; Update/Terminate/Restore move
//! the existing resource at order creation).

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::orders::{as_object, on_done, on_erred, on_placed, on_rejected};
use super::state::{
    BILLING_TYPES, CREATING, Component, OK, ORDER_STATES, ORDER_TYPES, Offering, Order, Resource,
    State, TERMINATED,
};
use super::util::{Slugs, generate_slug, parse_uuid, slugify};
use super::{OfferingSeed, OrderSeed, PlacedOrder};

pub(crate) fn add_offering(st: &mut State, seed: &OfferingSeed) -> Result<Uuid, String> {
    let uuid = seed.uuid.unwrap_or_else(Uuid::new_v4);
    if st.offering(&uuid).is_some() {
        return Err(format!("offering {} already exists", uuid.simple()));
    }
    let name = if seed.name.trim().is_empty() {
        "S3 Object Storage".to_string()
    } else {
        seed.name.trim().to_string()
    };
    let plugin_options = match &seed.plugin_options {
        Value::Null => json!({}),
        Value::Object(_) => seed.plugin_options.clone(),
        _ => return Err("plugin_options must be a JSON object".to_string()),
    };
    let mut components: Vec<Component> = Vec::new();
    for c in &seed.components {
        if !BILLING_TYPES.contains(&c.billing_type.as_str()) {
            return Err(format!(
                "component {:?}: billing_type must be one of {BILLING_TYPES:?}",
                c.type_
            ));
        }
        let valid_type = !c.type_.is_empty()
            && c.type_.len() <= 50
            && c.type_
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '/' | ':'));
        if !valid_type {
            return Err(format!("component type {:?} is not valid", c.type_));
        }
        if components.iter().any(|x| x.type_ == c.type_) {
            return Err(format!("duplicate component type {:?}", c.type_));
        }
        components.push(Component {
            uuid: Uuid::new_v4(),
            type_: c.type_.clone(),
            name: if c.name.is_empty() {
                c.type_.clone()
            } else {
                c.name.clone()
            },
            description: String::new(),
            billing_type: c.billing_type.clone(),
            measured_unit: c.measured_unit.clone(),
            unit_factor: c.unit_factor.unwrap_or(1),
            limit_period: None,
            limit_amount: c.limit_amount,
            article_code: String::new(),
            min_value: None,
            max_value: None,
            max_available_limit: None,
            default_limit: None,
            is_boolean: false,
        });
    }
    let customer = st.customer_by_uuid(
        seed.customer_uuid.unwrap_or_else(Uuid::new_v4),
        "Service Provider",
    );
    let mut slug = slugify(&name);
    if slug.is_empty() {
        slug = "offering".to_string();
    }
    let now = st.now();
    st.offerings.push(Offering {
        uuid,
        name,
        slug,
        customer,
        components,
        plugin_options,
        plan: Uuid::new_v4(),
        category: Uuid::new_v4(),
        created: now,
    });
    Ok(uuid)
}

/// A resource as a done Create order leaves it (state OK, backend id set), without the order.
pub(crate) fn add_resource_ok(
    st: &mut State,
    offering_uuid: &str,
    name: &str,
    backend_id: &str,
    attributes: Value,
) -> Result<Uuid, String> {
    let mut slugs = Slugs::of(st.resources.iter().map(|r| r.slug.as_str()));
    add_resource_with(st, &mut slugs, offering_uuid, name, backend_id, attributes)
}

/// Many OK resources (name, backend_id) at once, the existing slugs read once.
pub(crate) fn add_resources_ok(
    st: &mut State,
    offering_uuid: &str,
    resources: &[(String, String)],
) -> Result<Vec<Uuid>, String> {
    let mut slugs = Slugs::of(st.resources.iter().map(|r| r.slug.as_str()));
    resources
        .iter()
        .map(|(name, backend_id)| {
            add_resource_with(st, &mut slugs, offering_uuid, name, backend_id, json!({}))
        })
        .collect()
}

fn add_resource_with(
    st: &mut State,
    slugs: &mut Slugs,
    offering_uuid: &str,
    name: &str,
    backend_id: &str,
    attributes: Value,
) -> Result<Uuid, String> {
    let offering = offering_of(st, offering_uuid)?;
    let name = name.trim().to_string();
    if name.is_empty() {
        return Err("a resource needs a name".to_string());
    }
    let mut attributes = as_object(&attributes);
    attributes
        .entry("name")
        .or_insert_with(|| Value::String(name.clone()));
    let project = st.project_by_slug("project", "customer")?;
    let slug = slugs.next(&name);
    let plan = st.offering(&offering).map(|o| o.plan).unwrap_or_default();
    let now = st.now();
    let uuid = Uuid::new_v4();
    st.add_resource(Resource {
        uuid,
        name,
        slug,
        state: OK.to_string(),
        backend_id: backend_id.to_string(),
        offering,
        project,
        plan,
        attributes: Value::Object(attributes),
        limits: json!({}),
        current_usages: Map::new(),
        backend_metadata: json!({}),
        endpoints: Vec::new(),
        options: json!({}),
        report: Value::Null,
        downscaled: false,
        paused: false,
        restrict_member_access: false,
        error_message: String::new(),
        error_traceback: String::new(),
        last_sync: now,
        created: now,
        modified: now,
        extra: Map::new(),
    });
    Ok(uuid)
}

fn offering_of(st: &State, raw: &str) -> Result<Uuid, String> {
    let u = parse_uuid(raw.trim()).ok_or_else(|| format!("invalid offering uuid {raw:?}"))?;
    st.offering(&u)
        .map(|o| o.uuid)
        .ok_or_else(|| format!("unknown offering {raw}"))
}

pub(crate) fn place_order(st: &mut State, seed: &OrderSeed) -> Result<PlacedOrder, String> {
    let type_ = seed.order_type.as_str();
    if !ORDER_TYPES.contains(&type_) {
        return Err(format!("order type must be one of {ORDER_TYPES:?}"));
    }
    let state = seed
        .state
        .clone()
        .unwrap_or_else(|| "pending-provider".to_string());
    if !ORDER_STATES.contains(&state.as_str()) {
        return Err(format!("order state must be one of {ORDER_STATES:?}"));
    }
    let now = st.now();
    let mut attributes = as_object(&seed.attributes);
    let limits = Value::Object(as_object(&seed.limits));

    let resource = match (type_, seed.resource_uuid.as_deref()) {
        ("Create", None) | ("Create", Some("")) => {
            let offering = offering_of(st, &seed.offering_uuid)?;
            let name = if seed.resource_name.trim().is_empty() {
                attributes
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            } else {
                seed.resource_name.trim().to_string()
            };
            if name.is_empty() {
                return Err("a Create order needs resource_name".to_string());
            }
            attributes
                .entry("name")
                .or_insert_with(|| Value::String(name.clone()));
            let project = st.project_by_slug(
                non_empty(&seed.project_slug, "project"),
                non_empty(&seed.customer_slug, "customer"),
            )?;
            let slug = generate_slug(&name, st.resources.iter().map(|r| r.slug.as_str()));
            let plan = st.offering(&offering).map(|o| o.plan).unwrap_or_default();
            let uuid = Uuid::new_v4();
            st.add_resource(Resource {
                uuid,
                name,
                slug,
                state: CREATING.to_string(),
                backend_id: String::new(),
                offering,
                project,
                plan,
                attributes: Value::Object(attributes.clone()),
                limits: limits.clone(),
                current_usages: Map::new(),
                backend_metadata: json!({}),
                endpoints: Vec::new(),
                options: json!({}),
                report: Value::Null,
                downscaled: false,
                paused: false,
                restrict_member_access: false,
                error_message: String::new(),
                error_traceback: String::new(),
                last_sync: now,
                created: now,
                modified: now,
                extra: Map::new(),
            });
            uuid
        }
        ("Create", Some(_)) => {
            return Err("a Create order makes a new resource: leave resource_uuid empty".into());
        }
        (_, None) | (_, Some("")) => {
            return Err(format!("a {type_} order needs resource_uuid"));
        }
        (_, Some(raw)) => {
            let u =
                parse_uuid(raw.trim()).ok_or_else(|| format!("invalid resource uuid {raw:?}"))?;
            let r = st
                .resource(&u)
                .ok_or_else(|| format!("unknown resource {raw}"))?;
            if !seed.offering_uuid.trim().is_empty()
                && offering_of(st, &seed.offering_uuid)? != r.offering
            {
                return Err(format!("resource {raw} belongs to another offering"));
            }
            match type_ {
                "Restore" if r.state != TERMINATED => {
                    return Err("only a Terminated resource can be restored".to_string());
                }
                "Update" | "Terminate" if r.state == TERMINATED => {
                    return Err(format!("resource {raw} is Terminated"));
                }
                "Update" if !attributes.contains_key("old_limits") => {
                    attributes.insert("old_limits".into(), r.limits.clone());
                }
                _ => {}
            }
            u
        }
    };

    let r = st
        .resource(&resource)
        .cloned()
        .ok_or_else(|| "resource vanished".to_string())?;
    // Mastermind renders `resource_name` from the resource itself.
    let resource_name = r.name.clone();
    let reviewed_by_provider = ["executing", "done", "erred", "rejected"].contains(&state.as_str());
    let termination_comment = if type_ == "Terminate" {
        attributes
            .get("termination_comment")
            .and_then(Value::as_str)
            .map(str::to_string)
    } else {
        None
    };
    let order = Order {
        uuid: Uuid::new_v4(),
        type_: type_.to_string(),
        state: state.clone(),
        offering: r.offering,
        resource,
        project: r.project,
        plan: r.plan,
        resource_name,
        attributes: Value::Object(attributes),
        limits,
        backend_id: String::new(),
        error_message: String::new(),
        error_traceback: String::new(),
        error_updated_at: None,
        created: now,
        modified: now,
        completed_at: (state == "done").then_some(now),
        consumer_reviewed_at: (state != "pending-consumer").then_some(now),
        provider_reviewed_at: reviewed_by_provider.then_some(now),
        provider_reviewed_by: reviewed_by_provider.then(|| st.agent.username.clone()),
        provider_rejection_comment: None,
        termination_comment,
    };
    let order_uuid = order.uuid;
    st.orders.push(order);
    let oi = st.orders.len() - 1;
    on_placed(st, oi);
    match state.as_str() {
        "done" => on_done(st, oi),
        "erred" => on_erred(st, oi),
        "rejected" | "canceled" => on_rejected(st, oi),
        _ => {}
    }
    super::events::order_changed(st, oi);
    Ok(PlacedOrder {
        order_uuid: order_uuid.simple().to_string(),
        resource_uuid: resource.simple().to_string(),
    })
}

fn non_empty<'a>(s: &'a str, default: &'a str) -> &'a str {
    if s.trim().is_empty() {
        default
    } else {
        s.trim()
    }
}
