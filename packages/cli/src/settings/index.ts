// The settings schema and what is derived from it (see schema.ts).
export * from './schema';
export { orList, ruleText, parseText, flagName, defaultShown } from './setting';
export type { Setting, SettingKind, ValueOf } from './setting';
export { readEnv, envSetting, setEnvSetting, envReport, processEnv } from './env';
export type { EnvValues, RawEnv, EnvReportRow } from './env';
export { addSettingOptions, settingValues } from './commander';
export type { SettingOptionsConfig } from './commander';
export { resolveSettings, settingDefaults, settingErrors, definedOnly } from './resolve';
export type { Values } from './resolve';
export { optionsMarkdown, envMarkdown, withGeneratedTables } from './docs';
