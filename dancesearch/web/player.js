// A 3-D skeleton player: joints as spheres, bones as lines, a floor grid, orbit controls, and a
// timeline with the matched span highlighted. One player owns one WebGL context; dispose() frees it.
import {
  BufferAttribute, BufferGeometry, Color, DirectionalLight, GridHelper, HemisphereLight, InstancedMesh,
  LineBasicMaterial, LineSegments, Matrix4, MeshStandardMaterial, OrbitControls, PerspectiveCamera,
  Scene, SphereGeometry, Vector3, WebGLRenderer,
} from './vendor/three.min.js';

const JOINT_COLOR = 0x7cc4ff;
const BONE_COLOR = 0xd8e2ee;

export class SkeletonPlayer {
  // motion: {fps, parents, n_frames, start, positions[frame][joint][xyz]}; span: [startSec, endSec]
  // in clip time (null = whole motion). onFrame(frame, total) is called whenever the pose changes.
  constructor(canvasHost, motion, span, onFrame) {
    this.motion = motion;
    this.fps = motion.fps;
    this.nFrames = motion.n_frames;
    this.onFrame = onFrame;
    this.span = this.#spanFrames(span);
    this.loopSpan = true;
    this.frame = this.span[0];
    this.playing = false;
    this.visible = true;
    this.#buildScene(canvasHost);
    this.#showFrame(this.frame);
  }

  #spanFrames(span) {
    if (!span) return [0, this.nFrames];
    const first = Math.max(0, Math.floor((span[0] - this.motion.start) * this.fps));
    const last = Math.min(this.nFrames, Math.ceil((span[1] - this.motion.start) * this.fps));
    return last > first ? [first, last] : [0, this.nFrames];
  }

  #buildScene(host) {
    const width = host.clientWidth || 300;
    const height = host.clientHeight || 220;
    this.renderer = new WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio, 2));
    this.renderer.setSize(width, height);
    host.appendChild(this.renderer.domElement);
    this.scene = new Scene();
    this.scene.background = new Color(0x161b22);
    this.scene.add(new HemisphereLight(0xffffff, 0x334455, 2.2));
    const sun = new DirectionalLight(0xffffff, 1.2);
    sun.position.set(3, 6, 4);
    this.scene.add(sun);
    this.#addSkeleton();
    this.#addCamera(width / height);
  }

  #addSkeleton() {
    const nJoints = this.motion.parents.length;
    this.joints = new InstancedMesh(new SphereGeometry(0.035, 12, 8),
      new MeshStandardMaterial({ color: JOINT_COLOR, roughness: 0.5 }), nJoints);
    this.bones = this.motion.parents.map((p, i) => [i, p]).filter(([, p]) => p >= 0);
    const lineGeometry = new BufferGeometry();
    lineGeometry.setAttribute('position', new BufferAttribute(new Float32Array(this.bones.length * 6), 3));
    this.lines = new LineSegments(lineGeometry, new LineBasicMaterial({ color: BONE_COLOR }));
    this.scene.add(this.joints, this.lines);
    const root = this.#rootCentre();
    this.grid = new GridHelper(12, 24, 0x3b4656, 0x262e3a);
    this.grid.position.set(root.x, this.#floorHeight(), root.z);
    this.scene.add(this.grid);
  }

  #rootCentre() {
    const c = new Vector3();
    for (const pose of this.motion.positions) c.add(new Vector3(...pose[0]));
    return c.divideScalar(Math.max(1, this.nFrames));
  }

  #floorHeight() {
    let low = Infinity;
    for (const pose of this.motion.positions) for (const p of pose) low = Math.min(low, p[1]);
    return Number.isFinite(low) ? low : 0;
  }

  #addCamera(aspect) {
    this.camera = new PerspectiveCamera(40, aspect, 0.05, 100);
    const pelvis = new Vector3(...this.motion.positions[this.frame][0]);
    this.camera.position.set(pelvis.x + 1.7, pelvis.y + 0.6, pelvis.z + 2.6);
    this.controls = new OrbitControls(this.camera, this.renderer.domElement);
    this.controls.target.copy(pelvis);
    this.controls.enableDamping = false;
    this.controls.addEventListener('change', () => this.#render());
    this.controls.update();
  }

  // Pose the skeleton at `frame` and keep the camera following the root horizontally.
  #showFrame(frame) {
    const pose = this.motion.positions[frame];
    const m = new Matrix4();
    pose.forEach((p, j) => this.joints.setMatrixAt(j, m.makeTranslation(p[0], p[1], p[2])));
    this.joints.instanceMatrix.needsUpdate = true;
    const buf = this.lines.geometry.attributes.position;
    this.bones.forEach(([c, p], b) => {
      buf.setXYZ(2 * b, ...pose[c]);
      buf.setXYZ(2 * b + 1, ...pose[p]);
    });
    buf.needsUpdate = true;
    this.lines.geometry.computeBoundingSphere();
    this.#follow(new Vector3(...pose[0]));
    this.#render();
    this.onFrame?.(frame, this.nFrames);
  }

  #follow(pelvis) {
    const dx = pelvis.x - this.controls.target.x;
    const dz = pelvis.z - this.controls.target.z;
    this.controls.target.x += dx; this.controls.target.z += dz;
    this.camera.position.x += dx; this.camera.position.z += dz;
    this.camera.lookAt(this.controls.target);
  }

  #render() { this.renderer.render(this.scene, this.camera); }

  #tick = (now) => {
    this.raf = null;
    if (!this.playing || !this.visible) return;
    const [lo, hi] = this.loopSpan ? this.span : [0, this.nFrames];
    const advance = Math.floor((now - this.clockStart) * this.fps / 1000);
    if (advance > 0) {
      this.clockStart += advance * 1000 / this.fps;
      let next = this.frame + advance;
      if (next >= hi || next < lo) next = lo + ((next - lo) % (hi - lo) + (hi - lo)) % (hi - lo);
      this.frame = next;
      this.#showFrame(this.frame);
    }
    this.raf = requestAnimationFrame(this.#tick);
  };

  play() {
    this.playing = true;
    this.clockStart = performance.now();
    if (!this.raf && this.visible) this.raf = requestAnimationFrame(this.#tick);
  }

  pause() { this.playing = false; }

  toggle() { if (this.playing) this.pause(); else this.play(); return this.playing; }

  // Called by the page when the card scrolls in or out of view: nothing renders while hidden.
  setVisible(visible) {
    this.visible = visible;
    if (visible && this.playing) this.play();
  }

  seek(frame) {
    this.frame = Math.max(0, Math.min(this.nFrames - 1, frame));
    if (this.frame < this.span[0] || this.frame >= this.span[1]) this.loopSpan = false;
    this.clockStart = performance.now();
    this.#showFrame(this.frame);
  }

  dispose() {
    this.playing = false;
    if (this.raf) cancelAnimationFrame(this.raf);
    this.controls.dispose();
    this.joints.geometry.dispose(); this.joints.material.dispose();
    this.lines.geometry.dispose(); this.lines.material.dispose();
    this.renderer.dispose();
    this.renderer.forceContextLoss();
    this.renderer.domElement.remove();
  }
}
