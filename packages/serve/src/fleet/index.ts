// Several serve replicas behind nginx, scraped by Prometheus, on loopback (tests and benchmarks).
export { startFleet } from './fleet';
export type { Fleet, FleetOptions, Replica } from './fleet';
export { findNginx, mainConfig, NGINX_EXAMPLE, siteConfig, startNginx } from './nginx';
export type { NginxHandle } from './nginx';
export { ALERT_RULES, findPrometheus, prometheusConfig, startPrometheus } from './prometheus';
export type { PrometheusHandle, ScrapeTarget } from './prometheus';
export { accepts, findExecutable, freePort, groupCpuSeconds, spawnGroup, waitUntil } from './processes';
export type { GroupProcess } from './processes';
