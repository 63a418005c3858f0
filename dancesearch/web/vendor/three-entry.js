// Entry point of the vendored three.js bundle: only what player.js uses, tree-shaken and minified by
// update_vendor.sh into three.min.js.
export {
  BufferAttribute, BufferGeometry, Color, DirectionalLight, GridHelper, HemisphereLight, InstancedMesh,
  LineBasicMaterial, LineSegments, Matrix4, MeshStandardMaterial, PerspectiveCamera, Scene,
  SphereGeometry, Vector3, WebGLRenderer,
} from 'three';
export { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';
