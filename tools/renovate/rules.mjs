// What renovate.json5's packageRules make of some dependencies, by Renovate's own rule engine
// (renovate/dist/util/package-rules, `applyPackageRules`: what Renovate applies to each update
// it looks up). tests/delivery/test_renovate.py feeds it dependencies as Renovate's managers
// extract them (JSON on stdin: [{manager, packageFile, depName, packageName, depType,
// datasource, updateType}]) and reads back, per dependency, the settings that decide what
// happens: enabled, dependencyDashboardApproval, groupName, labels, allowedVersions,
// minimumReleaseAge, pinDigests and whether postUpgradeTasks run.
//
//   node tools/renovate/rules.mjs renovate.json5 < deps.json
import fs from "node:fs";
import JSON5 from "json5";
import { applyPackageRules } from "renovate/dist/util/package-rules/index.js";

const config = JSON5.parse(fs.readFileSync(process.argv[2], "utf8"));
const deps = JSON.parse(fs.readFileSync(0, "utf8"));
const out = [];
for (const dep of deps) {
  const result = await applyPackageRules({
    ...config,
    ...dep,
    packageName: dep.packageName ?? dep.depName,
  });
  out.push({
    enabled: result.enabled !== false,
    approval: result.dependencyDashboardApproval === true,
    group: result.groupName ?? null,
    labels: [...(result.labels ?? []), ...(result.addLabels ?? [])],
    allowedVersions: result.allowedVersions ?? null,
    minimumReleaseAge: result.minimumReleaseAge ?? null,
    pinDigests: result.pinDigests === true,
    postUpgradeTasks: (result.postUpgradeTasks?.commands ?? []).length > 0,
  });
}
process.stdout.write(JSON.stringify(out));
