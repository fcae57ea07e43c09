"use strict";
// Swagger UI on /docs over this server's OpenAPI schema (the vendored swagger-ui-dist): a file, since
// the page's policy allows no inline script. The schema's URL comes from the page (data-openapi-url).
const mount = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: mount.dataset.openapiUrl,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
