//! Component usage (§3.1): `set_usage` with Mastermind's validations (DecimalField with 2
//! places, resource state, component types, future dates, provider backfill rule) and the
//! usage list. One row per (resource, component type, billing period).

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::body::{NOT_NULL, REQUIRED, bool_value};
use super::context::Ctx;
use super::pagination::{order_window, page_window, paginate, paginate_with};
use super::query::Filters;
use super::reply::{Reply, Res};
use super::state::{OK, Principal, State, TERMINATING, UPDATING, Usage};
use super::util::{fmt_dt, hex, month_start, object, parse_uuid, py_type};

pub(crate) const BACKFILL: &str = "Service providers can only specify date for limit-based or prepaid billing components when backfilling past billing periods.";
const MAX_DIGITS: usize = 20;
const DECIMAL_PLACES: i64 = 2;

/// DRF `DecimalField(max_digits=20, decimal_places=2, min_value=0)` → hundredths.
pub(crate) fn parse_amount(v: &Value) -> Result<i128, String> {
    let invalid = || "A valid number is required.".to_string();
    let text = match v {
        Value::Null => return Err(NOT_NULL.to_string()),
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return Err(invalid()),
    };
    if text.len() > 1000 {
        return Err("String value too large.".to_string());
    }
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text.as_str()),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => {
            let e = rest[i + 1..].parse::<i64>().map_err(|_| invalid())?;
            (&rest[..i], e)
        }
        None => (rest, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(invalid());
    }
    let all_digits = format!("{int_part}{frac_part}");
    let trimmed = all_digits.trim_start_matches('0');
    let digits = if trimmed.is_empty() { "0" } else { trimmed };
    let exponent = exp - frac_part.len() as i64;
    let n = digits.len() as i64;
    let (total, whole, places) = if exponent >= 0 {
        (n + exponent, n + exponent, 0)
    } else if n > -exponent {
        (n, n + exponent, -exponent)
    } else {
        (-exponent, 0, -exponent)
    };
    if total > MAX_DIGITS as i64 {
        return Err(format!(
            "Ensure that there are no more than {MAX_DIGITS} digits in total."
        ));
    }
    if places > DECIMAL_PLACES {
        return Err(format!(
            "Ensure that there are no more than {DECIMAL_PLACES} decimal places."
        ));
    }
    if whole > MAX_DIGITS as i64 - DECIMAL_PLACES {
        return Err(format!(
            "Ensure that there are no more than {} digits before the decimal point.",
            MAX_DIGITS as i64 - DECIMAL_PLACES
        ));
    }
    let mut cents: i128 = digits.parse().map_err(|_| invalid())?;
    for _ in 0..(exponent + DECIMAL_PLACES) {
        cents *= 10;
    }
    if negative && cents != 0 {
        return Err("Ensure this value is greater than or equal to 0.".to_string());
    }
    Ok(cents)
}

/// `"12.34"` (DecimalField output, always 2 places).
pub(crate) fn fmt_cents(cents: i128) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let a = cents.abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

struct Item {
    type_: String,
    cents: i128,
    description: String,
    recurring: bool,
}

/// ComponentUsageItemSerializer for one entry of `usages`.
fn parse_item(v: &Value) -> Result<Item, Map<String, Value>> {
    let mut errors = Map::new();
    let Value::Object(m) = v else {
        errors.insert(
            "non_field_errors".into(),
            json!([format!(
                "Invalid data. Expected a dictionary, but got {}.",
                py_type(v)
            )]),
        );
        return Err(errors);
    };
    let type_ = match m.get("type") {
        None => {
            errors.insert("type".into(), json!([REQUIRED]));
            None
        }
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::String(_)) => {
            errors.insert("type".into(), json!(["This field may not be blank."]));
            None
        }
        Some(Value::Null) => {
            errors.insert("type".into(), json!([NOT_NULL]));
            None
        }
        Some(_) => {
            errors.insert("type".into(), json!(["Not a valid string."]));
            None
        }
    };
    let cents = match m.get("amount") {
        None => {
            errors.insert("amount".into(), json!([REQUIRED]));
            None
        }
        Some(a) => match parse_amount(a) {
            Ok(c) => Some(c),
            Err(e) => {
                errors.insert("amount".into(), json!([e]));
                None
            }
        },
    };
    let description = match m.get("description") {
        None => String::new(),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Null) => {
            errors.insert("description".into(), json!([NOT_NULL]));
            String::new()
        }
        Some(_) => {
            errors.insert("description".into(), json!(["Not a valid string."]));
            String::new()
        }
    };
    let recurring = match m.get("recurring") {
        None => false,
        Some(v) => bool_value(v).unwrap_or_else(|e| {
            errors.insert("recurring".into(), json!([e]));
            false
        }),
    };
    match (type_, cents, errors.is_empty()) {
        (Some(type_), Some(cents), true) => Ok(Item {
            type_,
            cents,
            description,
            recurring,
        }),
        _ => Err(errors),
    }
}

pub(crate) fn set_usage(st: &mut State, ctx: &Ctx, who: Principal) -> Res<Reply> {
    let mut form = ctx.form()?;
    let resource = form.related_uuid("resource", false);
    if let Some(u) = resource
        && st.resource(&u).is_none()
    {
        form.does_not_exist("resource", &u);
    }
    // The simulator has no plan periods: any reference points at nothing.
    if let Some(u) = form.related_uuid("plan_period", false) {
        form.does_not_exist("plan_period", &u);
    }
    let date = form.datetime("date", false);
    let mut items = Vec::new();
    if let Some(list) = form.list("usages", true) {
        let mut errors = Vec::new();
        let mut failed = false;
        for v in &list {
            match parse_item(v) {
                Ok(item) => {
                    items.push(item);
                    errors.push(json!({}));
                }
                Err(e) => {
                    failed = true;
                    errors.push(Value::Object(e));
                }
            }
        }
        if failed {
            form.error_value("usages", Value::Array(errors));
        }
    }
    form.check()?;

    let Some(resource) = resource else {
        return Err(Reply::non_field(
            "Either plan_period or resource should be provided.",
        ));
    };
    let now = st.now();
    let date = date.unwrap_or(now);
    if date > now {
        return Err(Reply::field(
            "date",
            "Cannot submit usage for future dates.",
        ));
    }
    let Some(ri) = st.resource_idx(&resource) else {
        return Err(Reply::not_found());
    };
    let r = &st.resources[ri];
    if ![OK, UPDATING, TERMINATING].contains(&r.state.as_str()) {
        return Err(Reply::field("resource", "Resource is not in valid state."));
    }
    let offering = r.offering;
    let mut invalid: Vec<&str> = Vec::new();
    for item in &items {
        let valid = st
            .component(&offering, &item.type_)
            .is_some_and(|c| ["usage", "limit", "one"].contains(&c.billing_type.as_str()));
        if !valid && !invalid.contains(&item.type_.as_str()) {
            invalid.push(&item.type_);
        }
    }
    if !invalid.is_empty() {
        return Err(Reply::non_field(format!(
            "These components are invalid: {}.",
            invalid.join(", ")
        )));
    }
    let period = month_start(&date);
    if period < month_start(&now) && who != Principal::Staff {
        let backfills_usage = items.iter().any(|i| {
            st.component(&offering, &i.type_)
                .is_some_and(|c| c.billing_type == "usage")
        });
        if backfills_usage {
            return Err(Reply::field("date", BACKFILL));
        }
    }

    let modified_by = st.user(who).id;
    let mut current = Map::new();
    for item in items {
        let amount = item.cents as f64 / 100.0;
        current.insert(item.type_.clone(), json!(amount));
        match st.usage_row_mut(&resource, &item.type_, period) {
            Some(row) => {
                row.cents = item.cents;
                row.date = date;
                row.description = item.description;
                row.recurring = item.recurring;
                row.modified_by = modified_by;
                row.modified = now;
            }
            None => st.add_usage(Usage {
                uuid: Uuid::new_v4(),
                resource,
                component_type: item.type_,
                billing_period: period,
                cents: item.cents,
                date,
                recurring: item.recurring,
                description: item.description,
                modified_by,
                created: now,
                modified: now,
            }),
        }
    }
    st.resources[ri].current_usages = current;
    Ok(Reply::empty(201))
}

pub(crate) fn render(st: &State, u: &Usage, origin: &str) -> Value {
    let resource = st.resource(&u.resource);
    let offering = resource.and_then(|r| st.offering(&r.offering));
    let component =
        offering.and_then(|o| o.components.iter().find(|c| c.type_ == u.component_type));
    let project = resource.and_then(|r| st.project(&r.project));
    let customer = project.and_then(|p| st.customer(&p.customer));
    object(vec![
        ("uuid", json!(hex(&u.uuid))),
        (
            "url",
            json!(format!(
                "{origin}/api/marketplace-component-usages/{}/",
                hex(&u.uuid)
            )),
        ),
        ("type", json!(u.component_type)),
        ("name", json!(component.map(|c| c.name.clone()))),
        (
            "measured_unit",
            json!(component.map(|c| c.measured_unit.clone())),
        ),
        ("usage", json!(fmt_cents(u.cents))),
        ("date", json!(fmt_dt(&u.date))),
        (
            "billing_period",
            json!(u.billing_period.format("%Y-%m-%d").to_string()),
        ),
        ("recurring", json!(u.recurring)),
        ("description", json!(u.description)),
        ("created", json!(fmt_dt(&u.created))),
        ("modified", json!(fmt_dt(&u.modified))),
        ("resource_uuid", json!(hex(&u.resource))),
        ("resource_name", json!(resource.map(|r| r.name.clone()))),
        ("offering_uuid", json!(offering.map(|o| hex(&o.uuid)))),
        ("offering_name", json!(offering.map(|o| o.name.clone()))),
        ("project_uuid", json!(project.map(|p| hex(&p.uuid)))),
        ("project_name", json!(project.map(|p| p.name.clone()))),
        ("customer_uuid", json!(customer.map(|c| hex(&c.uuid)))),
        ("customer_name", json!(customer.map(|c| c.name.clone()))),
        ("modified_by", json!(u.modified_by)),
    ])
}

/// Waldur's order for usage rows (`-date`, then component type); ties keep insertion
/// order, so the order is total and pages are stable.
fn api_order(a: &(usize, &Usage), b: &(usize, &Usage)) -> std::cmp::Ordering {
    b.1.date
        .cmp(&a.1.date)
        .then_with(|| a.1.component_type.cmp(&b.1.component_type))
        .then_with(|| a.0.cmp(&b.0))
}

/// Rows in the API's order.
pub(crate) fn sorted(st: &State, resource: Option<Uuid>) -> Vec<&Usage> {
    let mut rows: Vec<(usize, &Usage)> = match resource {
        Some(r) => st.usages_of(r).enumerate().collect(),
        None => st.usages.iter().enumerate().collect(),
    };
    rows.sort_by(api_order);
    rows.into_iter().map(|(_, u)| u).collect()
}

pub(crate) fn list(st: &State, ctx: &Ctx) -> Res<Reply> {
    let mut f = Filters::new(&ctx.query);
    let resource = f.uuid("resource_uuid");
    let offering = f.uuid("offering_uuid");
    let project = f.uuid("project_uuid");
    let customer = f.uuid("customer_uuid");
    let period = f.date("billing_period");
    let date_after = f.date("date_after");
    let date_before = f.date("date_before");
    let type_ = f.string("type");
    f.finish()?;
    let rows: Box<dyn Iterator<Item = &Usage>> = match resource {
        Some(r) => Box::new(st.usages_of(r)),
        None => Box::new(st.usages.iter()),
    };
    let mut rows: Vec<(usize, &Usage)> = rows
        .filter(|u| period.is_none_or(|p| u.billing_period == p))
        .filter(|u| date_after.is_none_or(|d| u.date.date_naive() >= d))
        .filter(|u| date_before.is_none_or(|d| u.date.date_naive() <= d))
        .filter(|u| type_.as_ref().is_none_or(|t| &u.component_type == t))
        .filter(|u| {
            let r = st.resource(&u.resource);
            offering.is_none_or(|o| r.is_some_and(|r| r.offering == o))
                && project.is_none_or(|p| r.is_some_and(|r| r.project == p))
                && customer.is_none_or(|c| {
                    r.and_then(|r| st.project(&r.project))
                        .is_some_and(|p| p.customer == c)
                })
        })
        .enumerate()
        .collect();
    match &st.unstable_usage_order {
        Some(n) if !rows.is_empty() => {
            rows.sort_by(api_order);
            let k = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed) as usize;
            let len = rows.len();
            rows.rotate_left((k * 37) % len);
        }
        _ => {
            if let Some(window) = page_window(ctx, rows.len()) {
                order_window(&mut rows, window, api_order);
            }
        }
    }
    Ok(paginate_with(ctx, rows, |(_, u)| {
        render(st, u, &ctx.origin)
    }))
}

pub(crate) fn detail(st: &State, ctx: &Ctx, id: &str) -> Res<Reply> {
    let u = parse_uuid(id)
        .and_then(|u| st.usages.iter().find(|r| r.uuid == u))
        .ok_or_else(Reply::not_found)?;
    Ok(ctx.detail(render(st, u, &ctx.origin)))
}

/// `GET /marketplace-component-user-usages/`: per-user breakdowns, which an S3 offering never
/// sends (one technical user per resource), so the list is empty once its filters parse.
pub(crate) fn user_usages(ctx: &Ctx) -> Res<Reply> {
    let mut f = Filters::new(&ctx.query);
    f.uuid("resource_uuid");
    f.uuids("offering_uuid");
    f.date("component_usage__billing_period");
    f.finish()?;
    Ok(paginate(ctx, Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_follow_drf_decimal_rules() {
        let ok = [
            (json!("3100.25"), 310025),
            (json!("0.1"), 10),
            (json!(".5"), 50),
            (json!("7."), 700),
            (json!(12), 1200),
            (json!(12.5), 1250),
            (json!("1e2"), 10000),
            (json!("0012.50"), 1250),
            (json!("-0"), 0),
            (json!(" 4 "), 400),
        ];
        for (v, cents) in ok {
            assert_eq!(parse_amount(&v), Ok(cents), "{v}");
        }
        let two_places = "Ensure that there are no more than 2 decimal places.";
        assert_eq!(parse_amount(&json!("1.234")).unwrap_err(), two_places);
        assert_eq!(parse_amount(&json!("1.250")).unwrap_err(), two_places);
        assert_eq!(parse_amount(&json!(0.001)).unwrap_err(), two_places);
        for bad in [
            json!("abc"),
            json!(""),
            json!("1.2.3"),
            json!("NaN"),
            json!(true),
            json!([1]),
        ] {
            assert_eq!(
                parse_amount(&bad).unwrap_err(),
                "A valid number is required.",
                "{bad}"
            );
        }
        assert_eq!(
            parse_amount(&json!("-1")).unwrap_err(),
            "Ensure this value is greater than or equal to 0."
        );
        assert_eq!(
            parse_amount(&json!("123456789012345678901")).unwrap_err(),
            "Ensure that there are no more than 20 digits in total."
        );
        assert_eq!(parse_amount(&Value::Null).unwrap_err(), NOT_NULL);
        assert_eq!(fmt_cents(310025), "3100.25");
        assert_eq!(fmt_cents(5), "0.05");
    }
}
