// The composition root `pulumi up` runs: it hands the program the environment and the clock, nothing more.
// Everything else lives in rotation/ (see README.md, "How the program works").
import { rotationProgram } from "./rotation/program";

export = () => rotationProgram({ env: process.env, now: new Date() });
