// Regenerates the vendored CRD schemas from the kubernetes-models npm packages (MIT), whose
// model files embed each CRD's OpenAPI v3 schema as a JSON literal.
// Usage: node extract.js MODEL.js OUT.json
const fs = require("fs");
const [file, out] = process.argv.slice(2);
const text = fs.readFileSync(file, "utf8");
const marker = "const schema = ";
const start = text.indexOf(marker) + marker.length;
const end = text.indexOf("\n};\n", start) + 2;
const schema = new Function(`return ${text.slice(start, end)}`)();
fs.writeFileSync(out, `${JSON.stringify(schema, null, 1)}\n`);
