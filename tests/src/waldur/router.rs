//! URL resolution for `/api/…` with Django/DRF ordering: unknown URL → 404 (before auth),
//! then authentication (401), then method check (405), then the view.

use serde_json::json;

use super::context::Ctx;
use super::reply::{Reply, Res};
use super::state::{Principal, State};
use super::{api_keys, auth, event_views, identities, offerings, orders, resources, usage};

const GET: &[&str] = &["GET"];
const POST: &[&str] = &["POST"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    UsersMe,
    Version,
    OfferingList,
    OfferingDetail,
    OfferingAction,
    PlanDetail,
    OfferingUsers,
    ServiceProviderList,
    ServiceProviderKeys,
    OfferingAccounts,
    OrderList,
    OrderDetail,
    OrderAction,
    ResourceList,
    ResourceDetail,
    ResourceTeam,
    ResourceAction,
    ApiKeyList,
    ApiKeyReportCreated,
    ApiKeyDetail,
    ApiKeyAction,
    UsageList,
    UsageSet,
    UsageDetail,
    UserUsageList,
    IdentityList,
    IdentityDetail,
    IdentityRegisterService,
    ServiceDetail,
    ServiceAction,
    IdentityEvents,
    SubscriptionList,
    SubscriptionDetail,
    SubscriptionCreateQueue,
    QueueList,
    QueueDetail,
}

struct Route<'a> {
    view: View,
    methods: &'static [&'static str],
    id: &'a str,
    action: &'a str,
}

const OFFERING_ACTIONS: &[&str] = &[
    "create_offering_component",
    "update_offering_component",
    "remove_offering_component",
    "check_unique_backend_id",
];
const ORDER_ACTIONS: &[&str] = &[
    "approve_by_provider",
    "reject_by_provider",
    "set_state_executing",
    "set_state_done",
    "set_state_erred",
    "set_backend_id",
    "retry",
    "cancel",
    "unlink",
];
const RESOURCE_ACTIONS: &[&str] = &[
    "set_backend_id",
    "set_backend_metadata",
    "set_limits",
    "set_endpoints",
    "set_as_erred",
    "set_as_ok",
    "refresh_last_sync",
    "submit_report",
];

fn route<'a>(
    view: View,
    methods: &'static [&'static str],
    id: &'a str,
    action: &'a str,
) -> Option<Route<'a>> {
    Some(Route {
        view,
        methods,
        id,
        action,
    })
}

fn resolve<'a>(segs: &[&'a str]) -> Option<Route<'a>> {
    use View as V;
    match *segs {
        ["users", "me"] => route(V::UsersMe, GET, "", ""),
        ["version"] => route(V::Version, GET, "", ""),
        ["marketplace-provider-offerings"] => route(V::OfferingList, GET, "", ""),
        ["marketplace-provider-offerings", id] => route(V::OfferingDetail, GET, id, ""),
        ["marketplace-provider-offerings", id, a] if OFFERING_ACTIONS.contains(&a) => {
            route(V::OfferingAction, POST, id, a)
        }
        ["marketplace-plans", id] => route(V::PlanDetail, GET, id, ""),
        ["marketplace-offering-users"] => route(V::OfferingUsers, GET, "", ""),
        ["marketplace-service-providers"] => route(V::ServiceProviderList, GET, "", ""),
        ["marketplace-service-providers", id, "keys"] => route(V::ServiceProviderKeys, GET, id, ""),
        [
            "marketplace-provider-offerings",
            id,
            "list_project_service_accounts" | "list_course_accounts",
        ] => route(V::OfferingAccounts, GET, id, ""),
        ["marketplace-orders"] => route(V::OrderList, GET, "", ""),
        ["marketplace-orders", id] => route(V::OrderDetail, GET, id, ""),
        ["marketplace-orders", id, a] if ORDER_ACTIONS.contains(&a) => {
            route(V::OrderAction, POST, id, a)
        }
        ["marketplace-provider-resources"] => route(V::ResourceList, GET, "", ""),
        ["marketplace-provider-resources", id] => route(V::ResourceDetail, GET, id, ""),
        ["marketplace-provider-resources", id, "team"] => route(V::ResourceTeam, GET, id, ""),
        ["marketplace-provider-resources", id, a] if RESOURCE_ACTIONS.contains(&a) => {
            route(V::ResourceAction, POST, id, a)
        }
        ["marketplace-resource-api-keys"] => route(V::ApiKeyList, GET, "", ""),
        ["marketplace-resource-api-keys", "report_created"] => {
            route(V::ApiKeyReportCreated, POST, "", "")
        }
        ["marketplace-resource-api-keys", id] => route(V::ApiKeyDetail, GET, id, ""),
        ["marketplace-resource-api-keys", id, "reveal"] => {
            route(V::ApiKeyAction, GET, id, "reveal")
        }
        [
            "marketplace-resource-api-keys",
            id,
            a @ ("set_key" | "set_erred" | "rotate"),
        ] => route(V::ApiKeyAction, POST, id, a),
        ["marketplace-component-usages"] => route(V::UsageList, GET, "", ""),
        ["marketplace-component-usages", "set_usage"] => route(V::UsageSet, POST, "", ""),
        ["marketplace-component-usages", id] => route(V::UsageDetail, GET, id, ""),
        ["marketplace-component-user-usages"] => route(V::UserUsageList, GET, "", ""),
        ["marketplace-site-agent-identities"] => route(V::IdentityList, &["GET", "POST"], "", ""),
        ["marketplace-site-agent-identities", id] => {
            route(V::IdentityDetail, &["GET", "PUT", "DELETE"], id, "")
        }
        ["marketplace-site-agent-identities", id, "register_service"] => {
            route(V::IdentityRegisterService, POST, id, "")
        }
        [
            "marketplace-site-agent-identities",
            id,
            a @ ("register_event_subscription" | "register_queue"),
        ] => route(V::IdentityEvents, POST, id, a),
        ["event-subscriptions"] => route(V::SubscriptionList, GET, "", ""),
        ["event-subscriptions", id] => route(V::SubscriptionDetail, &["GET", "DELETE"], id, ""),
        ["event-subscriptions", id, "create_queue"] => {
            route(V::SubscriptionCreateQueue, POST, id, "")
        }
        ["event-subscription-queues"] => route(V::QueueList, GET, "", ""),
        ["event-subscription-queues", id] => route(V::QueueDetail, &["GET", "DELETE"], id, ""),
        ["marketplace-site-agent-services", id] => route(V::ServiceDetail, GET, id, ""),
        [
            "marketplace-site-agent-services",
            id,
            a @ ("register_processor" | "set_statistics"),
        ] => route(V::ServiceAction, POST, id, a),
        _ => None,
    }
}

fn allow_header(methods: &[&str]) -> String {
    let mut all: Vec<&str> = methods.to_vec();
    if all.contains(&"GET") {
        all.push("HEAD");
    }
    all.push("OPTIONS");
    all.join(", ")
}

/// Entry point for every `/api/…` request.
pub(crate) fn dispatch(st: &mut State, ctx: &Ctx) -> Reply {
    let Some(inner) = ctx
        .path
        .strip_prefix("/api/")
        .and_then(|p| p.strip_suffix('/'))
    else {
        return Reply::not_found();
    };
    let segs: Vec<&str> = inner.split('/').collect();
    if segs.iter().any(|s| s.is_empty()) {
        return Reply::not_found();
    }
    let Some(route) = resolve(&segs) else {
        return Reply::not_found();
    };
    let who = match auth::authenticate(st, ctx) {
        Ok(who) => who,
        Err(reply) => return reply,
    };
    let allow = allow_header(route.methods);
    let method = ctx.method.as_str();
    let permitted =
        route.methods.contains(&method) || (method == "HEAD" && route.methods.contains(&"GET"));
    let reply = if method == "OPTIONS" {
        Reply::json(
            200,
            json!({
                "name": format!("{:?}", route.view),
                "description": "",
                "renders": ["application/json"],
                "parses": ["application/json", "application/x-www-form-urlencoded"],
            }),
        )
    } else if !permitted {
        Reply::detail(405, format!("Method \"{method}\" not allowed."))
    } else {
        view(st, ctx, who, &route).unwrap_or_else(|e| e)
    };
    reply.header("Allow", allow).header("Vary", "Accept")
}

fn view(st: &mut State, ctx: &Ctx, who: Principal, r: &Route) -> Res<Reply> {
    let (id, action, method) = (r.id, r.action, ctx.method.as_str());
    match r.view {
        View::UsersMe => Ok(offerings::users_me(st, ctx, who)),
        View::Version => Ok(offerings::version(ctx, who)),
        View::OfferingList => offerings::list(st, ctx),
        View::OfferingDetail => offerings::detail(st, ctx, id),
        View::OfferingAction => match action {
            "create_offering_component" => offerings::create_component(st, ctx, id),
            "update_offering_component" => offerings::update_component(st, ctx, id),
            "remove_offering_component" => offerings::remove_component(st, ctx, id),
            _ => offerings::check_unique_backend_id(st, ctx, id),
        },
        View::PlanDetail => offerings::plan_detail(st, ctx, id),
        View::OfferingUsers => offerings::offering_users(ctx),
        View::ServiceProviderList => offerings::service_providers(st, ctx),
        View::ServiceProviderKeys => offerings::service_provider_keys(st, ctx, id),
        View::OfferingAccounts => offerings::empty_offering_list(st, ctx, id),
        View::OrderList => orders::list(st, ctx),
        View::OrderDetail => orders::detail(st, ctx, id),
        View::OrderAction => orders::action(st, ctx, who, id, action),
        View::ResourceList => resources::list(st, ctx),
        View::ResourceDetail => resources::detail(st, ctx, id),
        View::ResourceTeam => resources::team(st, id),
        View::ResourceAction => resources::action(st, ctx, id, action),
        View::ApiKeyList => api_keys::list(st, ctx),
        View::ApiKeyReportCreated => api_keys::report_created(st, ctx),
        View::ApiKeyDetail => api_keys::detail(st, ctx, id),
        View::ApiKeyAction => match action {
            "set_key" => api_keys::set_key(st, ctx, id),
            "set_erred" => api_keys::set_erred(st, ctx, id),
            "rotate" => api_keys::rotate(st, who, id),
            _ => api_keys::reveal(st, who, id),
        },
        View::UsageList => usage::list(st, ctx),
        View::UsageSet => usage::set_usage(st, ctx, who),
        View::UsageDetail => usage::detail(st, ctx, id),
        View::UserUsageList => usage::user_usages(ctx),
        View::IdentityList if method == "POST" => identities::create(st, ctx, who),
        View::IdentityList => identities::list(st, ctx),
        View::IdentityDetail if method == "PUT" => identities::update(st, ctx, id),
        View::IdentityDetail if method == "DELETE" => identities::delete(st, id),
        View::IdentityDetail => identities::detail(st, ctx, id),
        View::IdentityRegisterService => identities::register_service(st, ctx, id),
        View::ServiceDetail => identities::service_detail(st, ctx, id),
        View::ServiceAction => identities::service_action(st, ctx, id, action),
        View::IdentityEvents if action == "register_queue" => {
            event_views::register_queue(st, ctx, who, id)
        }
        View::IdentityEvents => event_views::register_event_subscription(st, ctx, who, id),
        View::SubscriptionList => event_views::list(st, ctx, who),
        View::SubscriptionDetail if method == "DELETE" => event_views::delete(st, who, id),
        View::SubscriptionDetail => event_views::detail(st, ctx, who, id),
        View::SubscriptionCreateQueue => event_views::create_queue(st, ctx, who, id),
        View::QueueList => event_views::queue_list(st, ctx, who),
        View::QueueDetail if method == "DELETE" => event_views::queue_delete(st, who, id),
        View::QueueDetail => event_views::queue_detail(st, ctx, who, id),
    }
}
